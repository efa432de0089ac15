"""``python -m engine.store.merge_apart STORE TABLE FILE...``: one merge, in a process of its own.

``StoreLayout.compact`` runs its wide merges here (``StoreLayout.merge_apart``): the files named
(of one run, in ``TABLE``'s folder of the store at ``STORE``) become one file covering them,
exactly as ``StoreLayout.merge`` writes it. Exit 0 once the file is in place.
"""

from __future__ import annotations

import sys

from engine.store.layout import StoreLayout, parse_data_file


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print("usage: python -m engine.store.merge_apart STORE TABLE FILE FILE...", file=sys.stderr)
        return 2
    layout = StoreLayout(argv[0])
    table = argv[1]
    folder = layout.table_dir(table)
    files = [parse_data_file(name, folder / name) for name in argv[2:]]
    if any(f is None for f in files) or len({f.run for f in files}) != 1:
        print(f"merge_apart: not data files of one run: {argv[2:]}", file=sys.stderr)
        return 2
    layout.merge(table, files)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
