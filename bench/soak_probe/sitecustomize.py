"""Soak probe: what the explore process's memory is made of, a line a minute (``bench/soak.py --probe``).

Put on ``PYTHONPATH`` only by the soak, for the process it soaks. When ``JOURNEYS_SOAK_PROBE`` names
a file, a daemon thread appends one JSON line per ``JOURNEYS_SOAK_PROBE_EVERY`` seconds (default 60):

- ``rss_anon`` / ``rss_file``: resident anonymous memory (heaps, Python objects) and resident pages
  of mapped files (the shared libraries' code and data as it is first touched), MB;
- ``heap_used`` / ``heap_free``: glibc's ``mallinfo2``: bytes handed out from malloc's heaps and
  mmaps, and bytes free inside its heaps (held, not returned), MB;
- ``py_blocks``: ``sys.getallocatedblocks()``, the blocks Python's own allocator holds;
- ``py_arenas`` / ``py_used``: the arenas Python's small-object allocator holds (it returns one to
  the system only once every block in it is free) and the bytes in use in them, MB, from
  ``sys._debugmallocstats()`` (its report, written to file descriptor 2, caught in a file);
- ``gc_objects``: objects the garbage collector tracks.

Reading these costs a few milliseconds a minute and allocates nothing the run keeps.
"""

import os

if os.environ.get("JOURNEYS_SOAK_PROBE"):
    import ctypes
    import ctypes.util
    import gc
    import json
    import sys
    import threading
    import time

    class _MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
            "keepcost")]

    def _mallinfo2():
        try:
            function = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallinfo2
        except (OSError, AttributeError):
            return None
        function.restype = _MallInfo2
        return function

    def _status_mb() -> dict:
        values = {}
        with open("/proc/self/status") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile"):
                    values[key] = int(rest.split()[0]) / 1024
        return values

    ARENA_BYTES = 1 << 20  # Python 3.10+ with mmap: 1 MiB arenas

    def _python_arenas() -> dict:
        """From ``sys._debugmallocstats()``'s report: arena bytes held and block bytes in use."""
        import tempfile
        try:
            with tempfile.TemporaryFile("w+") as caught:
                sys.stderr.flush()
                saved = os.dup(2)
                try:
                    os.dup2(caught.fileno(), 2)
                    sys._debugmallocstats()
                finally:
                    os.dup2(saved, 2)
                    os.close(saved)
                caught.seek(0)
                report = caught.read()
        except (OSError, AttributeError):
            return {}
        values = {}
        for line in report.splitlines():
            key, _, number = line.rpartition("=")
            key = key.strip()
            if key in ("# arenas allocated current", "# bytes in allocated blocks"):
                values[key] = int(number.replace(",", "").strip())
        arenas = values.get("# arenas allocated current")
        return {"py_arenas": round(arenas * ARENA_BYTES / 2**20, 1) if arenas is not None else None,
                "py_used": round(values.get("# bytes in allocated blocks", 0) / 2**20, 1)}

    def _probe(path: str, every: float) -> None:
        info = _mallinfo2()
        started = time.monotonic()
        while True:
            time.sleep(every)
            status = _status_mb()
            line = {"t": round(time.monotonic() - started, 1), "rss": status.get("VmRSS"),
                    "rss_anon": status.get("RssAnon"), "rss_file": status.get("RssFile"),
                    "py_blocks": sys.getallocatedblocks(), "gc_objects": len(gc.get_objects()),
                    **_python_arenas()}
            if info is not None:
                heap = info()
                line["heap_used"] = round((heap.uordblks + heap.hblkhd) / 2**20, 1)
                line["heap_free"] = round(heap.fordblks / 2**20, 1)
                line["heap_mmapped"] = round(heap.hblkhd / 2**20, 1)
            with open(path, "a") as out:
                out.write(json.dumps(line) + "\n")

    threading.Thread(target=_probe, args=(os.environ["JOURNEYS_SOAK_PROBE"],
                                          float(os.environ.get("JOURNEYS_SOAK_PROBE_EVERY", "60"))),
                     name="journeys-soak-probe", daemon=True).start()
