"""Where the store's files live and how they are written: immutable Parquet segments.

    journeys-store/
      steps/
        _schema.parquet                    no rows; keeps the folder readable before any run
        3f2a9c1d0e7b~000001-000001.parquet a segment flushed by run 3f2a9c1d0e7b while it ran
        3f2a9c1d0e7b~000002-000002.parquet
        3f2a9c1d0e7b~000001-000032.parquet segments 1 to 32 of that run, merged
      journeys/ ...

A file is written under a hidden temporary name, flushed to disk, then renamed
into place, so a reader (or a ``kill -9``) never sees half a file. Nothing is
ever modified in place, so any number of processes and machines can append to
one store without a lock: each run only ever creates files named after itself.

Each file name carries the range of the run's flushes it holds. A running
session merges its small segments as they pile up (32 flushes into one file,
32 of those into one...), and its whole run into one file when it ends. A
reader uses only the files no wider file covers, so a row is never counted
twice; files that a wider one covers are deleted a grace period later, long
after any query that had listed them has finished reading them.
"""

from __future__ import annotations

import math
import os
import re
import time
import uuid
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

from engine.store.schema import TABLES

__all__ = ["DEFAULT_STORE", "SEGMENT_GRACE_S", "DataFile", "StoreLayout", "write_atomically"]

DEFAULT_STORE = "journeys-store"
FANOUT = 32  # this many files of one size are merged into one file of the next size
SEGMENT_GRACE_S = 600.0  # covered files are deleted this long after the covering file appeared
STALE_TEMPORARY_S = 3600.0
_DATA_FILE = re.compile(r"^(?P<run>[^~/]+)~(?P<lo>\d+)-(?P<hi>\d+)\.parquet$")


class DataFile(NamedTuple):
    path: Path
    run: str
    lo: int
    hi: int

    @property
    def level(self) -> int:
        return int(math.log(self.hi - self.lo + 1, FANOUT) + 1e-9)

    def covers(self, other: DataFile) -> bool:
        return (self.run == other.run and self.lo <= other.lo and self.hi >= other.hi
                and (self.lo, self.hi) != (other.lo, other.hi))


def write_atomically(table: pa.Table, path: Path) -> None:
    """Write ``table`` as Parquet at ``path``: temporary file, fsync, rename."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temporary, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class StoreLayout:
    """The store folder: one sub-folder of Parquet files per table."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def table_dir(self, table: str) -> Path:
        return self.root / table

    def ensure(self) -> None:
        """Create the folders and each table's empty schema file (idempotent, race-safe)."""
        for table, schema in TABLES.items():
            folder = self.table_dir(table)
            folder.mkdir(parents=True, exist_ok=True)
            marker = folder / "_schema.parquet"
            existing = pq.read_schema(marker) if marker.exists() else None
            if existing is None or not schema.equals(existing):
                write_atomically(schema.empty_table(), marker)

    def is_store(self) -> bool:
        return (self.table_dir("runs_started") / "_schema.parquet").exists()

    def has_table(self, table: str) -> bool:
        """False for a table added after this store was made (until a writer opens it)."""
        return (self.table_dir(table) / "_schema.parquet").exists()

    def data_path(self, table: str, run_id: str, lo: int, hi: int) -> Path:
        return self.table_dir(table) / f"{run_id}~{lo:06d}-{hi:06d}.parquet"

    def data_files(self, table: str, run_id: str | None = None) -> list[DataFile]:
        found = []
        folder = self.table_dir(table)
        if not folder.is_dir():
            return found
        for entry in os.scandir(folder):
            match = _DATA_FILE.match(entry.name)
            if match and (run_id is None or match["run"] == run_id):
                found.append(DataFile(Path(entry.path), match["run"], int(match["lo"]), int(match["hi"])))
        return sorted(found, key=lambda f: (f.run, f.lo, -f.hi))

    def live_files(self, table: str, run_id: str | None = None) -> list[DataFile]:
        """The files no other file covers: together they hold every row exactly once."""
        files = self.data_files(table, run_id)
        return [f for f in files if not any(g.covers(f) for g in files)]

    def merge(self, table: str, files: list[DataFile]) -> DataFile | None:
        """Write one file covering ``files`` (of one run); the covered files stay for now."""
        if len(files) < 2:
            return None
        schema = TABLES[table]
        merged = pa.concat_tables([pq.read_table(f.path).select(schema.names).cast(schema)
                                   for f in sorted(files, key=lambda f: f.lo)])
        lo, hi = min(f.lo for f in files), max(f.hi for f in files)
        path = self.data_path(table, files[0].run, lo, hi)
        write_atomically(merged, path)
        return DataFile(path, files[0].run, lo, hi)

    def compact(self, table: str, run_id: str) -> None:
        """Merge a run's files of one size once ``FANOUT`` of them have piled up."""
        while True:
            live = self.live_files(table, run_id)
            by_level: dict[int, list[DataFile]] = {}
            for data_file in live:
                by_level.setdefault(data_file.level, []).append(data_file)
            full = next((files for _, files in sorted(by_level.items()) if len(files) >= FANOUT), None)
            if full is None:
                return
            self.merge(table, full)

    def merge_run(self, run_id: str) -> None:
        """Merge each table's files of one run into a single file (at the run's end)."""
        for table in TABLES:
            self.merge(table, self.live_files(table, run_id))

    def collect_garbage(self, now: float | None = None) -> int:
        """Delete files covered by a wider file for a while, and temporaries left by a crash."""
        now = time.time() if now is None else now
        removed = 0
        for table in TABLES:
            folder = self.table_dir(table)
            if not folder.is_dir():
                continue
            for entry in os.scandir(folder):
                if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                    removed += _unlink_if_older(entry.path, now - STALE_TEMPORARY_S)
            files = self.data_files(table)
            for data_file in files:
                covering = [g for g in files if g.covers(data_file)]
                if any(_older_than(g.path, now - SEGMENT_GRACE_S) for g in covering):
                    removed += _unlink_if_older(data_file.path, now)
        return removed


def _older_than(path: Path, moment: float) -> bool:
    try:
        return path.stat().st_mtime < moment
    except FileNotFoundError:
        return False


def _unlink_if_older(path: str | Path, moment: float) -> int:
    try:
        if os.stat(path).st_mtime <= moment:
            os.unlink(path)
            return 1
    except FileNotFoundError:  # another process collected it first
        pass
    return 0
