"""The store's files: merges stream in bounded memory, garbage collection stays exact and cheap.

Every test writes real Parquet files in the store's layout under ``tmp_path``, and
drives ``StoreLayout`` directly (no session): the merges ``compact`` and
``merge_run`` do, ``live_files``, ``collect_garbage`` with ``now=`` and mtimes set
by ``os.utime``, and a merge killed with ``-9`` half-way in a subprocess.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from engine.store import connect
from engine.store import layout as layout_module
from engine.store.layout import (SEGMENT_GRACE_S, STALE_TEMPORARY_S, DataFile, StoreLayout,
                                 write_atomically)
from engine.store.schema import TABLES

from .conftest import ROOT

STEPS = TABLES["steps"]
OLD_STEPS = pa.schema([f for f in STEPS if f.name not in ("fingerprint", "rate_wait_ms")])  # before those


def steps_rows(first: int, count: int, schema: pa.Schema = STEPS) -> pa.Table:
    """``count`` step rows, journey numbers ``first``..., with every column of ``schema`` filled."""
    journey = pa.array(range(first, first + count), pa.int64())
    text = pc.cast(journey, pa.string())
    columns = {}
    for field in schema:
        if field.name == "journey":
            columns[field.name] = journey
        elif pa.types.is_string(field.type):
            columns[field.name] = pc.binary_join_element_wise(pa.scalar(f"{field.name}/"), text, "")
        elif pa.types.is_timestamp(field.type):
            columns[field.name] = pc.cast(pc.multiply(journey, 1000), pa.int64()).cast(field.type)
        else:
            columns[field.name] = pc.cast(journey, field.type, safe=False)
    return pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema)


def new_store(tmp_path: Path) -> StoreLayout:
    layout = StoreLayout(tmp_path / "store")
    layout.ensure()
    return layout


def write_segments(layout: StoreLayout, run: str, sizes: list[int], schema_of=lambda k: STEPS) -> int:
    """One segment per size (flushes 1, 2, ...), journeys numbered on across them; the row count."""
    first = 0
    for k, size in enumerate(sizes, start=1):
        write_atomically(steps_rows(first, size, schema_of(k)), layout.data_path("steps", run, k, k))
        first += size
    return first


# --- (a) a merge reads a column older files lack as nulls, and keeps the rows in order ---------------
def test_merge_reads_a_column_older_files_lack_as_nulls_and_keeps_every_row_in_order(tmp_path):
    layout = new_store(tmp_path)
    # Segments 1-3 were written before fingerprint and rate_wait_ms existed, 4-6 after.
    total = write_segments(layout, "r1", [300, 1, 250, 40, 500, 7], lambda k: OLD_STEPS if k <= 3 else STEPS)
    files = layout.live_files("steps", "r1")
    random.Random(3).shuffle(files)  # the merge orders them by lo itself
    merged = layout.merge("steps", files)
    assert merged == DataFile(layout.data_path("steps", "r1", 1, 6), "r1", 1, 6)
    assert layout.live_files("steps", "r1") == [merged]

    table = pq.read_table(merged.path)
    assert table.schema.equals(STEPS)
    assert table["journey"].to_pylist() == list(range(total))
    old_rows = 300 + 1 + 250
    for column in ("fingerprint", "rate_wait_ms"):
        values = table[column].to_pylist()
        assert values[:old_rows] == [None] * old_rows
        assert None not in values[old_rows:]
    assert table.slice(old_rows).equals(steps_rows(old_rows, total - old_rows))
    assert table.slice(0, old_rows).select(OLD_STEPS.names).equals(steps_rows(0, old_rows, OLD_STEPS))
    # The reader sees each row once: the merged file, not the segments it covers.
    assert connect(layout.root).execute("SELECT count(*), count(DISTINCT journey) FROM steps").fetchone() == (
        total, total)


def test_a_merge_writes_row_groups_of_a_bounded_size_and_merges_merged_files(tmp_path, monkeypatch):
    monkeypatch.setattr(layout_module, "READ_BATCH_ROWS", 32)
    monkeypatch.setattr(layout_module, "ROW_GROUP_ROWS", 100)
    layout = new_store(tmp_path)
    total = write_segments(layout, "r1", [90, 3, 400, 0, 17, 250])
    first = layout.merge("steps", layout.live_files("steps", "r1")[:3])  # as compact merges 1-3, then 4-6
    second = layout.merge("steps", layout.live_files("steps", "r1")[1:])
    assert [f.path.name for f in layout.live_files("steps", "r1")] == [first.path.name, second.path.name]
    whole = layout.merge("steps", layout.live_files("steps", "r1"))
    assert (whole.lo, whole.hi) == (1, 6) and layout.live_files("steps", "r1") == [whole]
    metadata = pq.ParquetFile(whole.path).metadata
    groups = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    assert sum(groups) == total and max(groups) < 100 + 32, groups  # one row group buffered, then written
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    assert pq.read_table(whole.path).equals(steps_rows(0, total))


# --- (b) a merge's memory is about one row group, not the run -------------------------------------------
MERGE_PEAK = r"""
import json, sys
import pyarrow as pa
from engine.store.layout import StoreLayout
layout = StoreLayout(sys.argv[1])
files = layout.live_files("steps", "big")
merged = layout.merge("steps", files)
print(json.dumps({"peak": pa.default_memory_pool().max_memory(), "path": str(merged.path)}))
"""


def test_merging_a_big_run_needs_memory_for_a_row_group_not_for_the_run(tmp_path):
    layout = new_store(tmp_path)
    total = write_segments(layout, "big", [15_000] * 40)  # 600,000 step rows in 40 segments
    decoded = sum(pq.read_table(f.path).nbytes for f in layout.live_files("steps", "big"))
    assert decoded > 100e6
    # A fresh process: the memory pool's peak is the merge's own (pyarrow keeps no reset for it).
    done = subprocess.run([sys.executable, "-c", MERGE_PEAK, str(layout.root)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    # Loading every file (the old pq.read_table + concat_tables) peaked above `decoded` (212 MB for
    # 180 MB); streaming, 64K rows buffered at a time, about 42 MB.
    assert result["peak"] < decoded / 2, (result["peak"], decoded)
    assert pq.ParquetFile(result["path"]).metadata.num_rows == total


# --- (c) collect_garbage removes exactly the covered files past their grace -----------------------------
NOW = 1_900_000_000.0


def put(layout: StoreLayout, run: str, lo: int, hi: int, age: float, table: str = "steps") -> Path:
    """A small real data file of ``table``, ``age`` seconds old at ``NOW``."""
    path = layout.data_path(table, run, lo, hi)
    shutil.copyfile(layout.table_dir(table) / "_schema.parquet", path)  # no rows: a real Parquet file
    os.utime(path, (NOW - age, NOW - age))
    return path


def expected_garbage(files: list[DataFile]) -> set[Path]:
    """What the rule says, file by file against every file: the old quadratic reference."""
    mtime = {f.path: f.path.stat().st_mtime for f in files}
    return {f.path for f in files
            if any(g.covers(f) and mtime[g.path] < NOW - SEGMENT_GRACE_S for g in files)}


def test_collect_garbage_removes_exactly_the_covered_files_past_the_grace(tmp_path):
    layout = new_store(tmp_path)
    old, young = SEGMENT_GRACE_S + 5, SEGMENT_GRACE_S - 5
    named = {
        # A finished run merged long ago: its segments and its level-1 files go.
        "done": [put(layout, "done", 1, 64, old), put(layout, "done", 1, 32, old), put(layout, "done", 33, 64, old),
                 put(layout, "done", 1, 1, old), put(layout, "done", 40, 40, old)],
        # Merged a moment ago: nothing goes yet, though the level-1 file is old.
        "fresh": [put(layout, "fresh", 1, 64, young), put(layout, "fresh", 1, 32, old),
                  put(layout, "fresh", 7, 7, old)],
        # A run killed with -9: segments no file covers, and one old merge of 1-32.
        "killed": [put(layout, "killed", 1, 32, old), put(layout, "killed", 5, 5, old),
                   put(layout, "killed", 33, 33, old), put(layout, "killed", 34, 34, old)],
        "single": [put(layout, "single", 1, 1, old)],
    }
    put(layout, "done", 1, 32, old, table="journeys")  # another table: its own files, its own rule
    put(layout, "done", 3, 3, old, table="journeys")
    stray = layout.table_dir("steps") / "notes.parquet"
    stray.write_bytes(b"not a segment")
    os.utime(stray, (0, 0))
    stale = layout.table_dir("steps") / ".done~000001-000064.parquet.0badf00d.tmp"
    recent = layout.table_dir("journeys") / ".x~000001-000002.parquet.12345678.tmp"
    for path, age in ((stale, STALE_TEMPORARY_S + 1), (recent, STALE_TEMPORARY_S - 60)):
        path.write_bytes(b"PAR1 half a file")
        os.utime(path, (NOW - age, NOW - age))

    files = layout.data_files("steps") + layout.data_files("journeys")
    gone = expected_garbage(layout.data_files("steps")) | expected_garbage(layout.data_files("journeys"))
    assert gone == {*named["done"][1:], named["fresh"][2], named["killed"][1],
                    layout.data_path("journeys", "done", 3, 3)}
    assert layout.collect_garbage(now=NOW - 3600) == 0  # an hour earlier, nothing was old enough
    assert layout.collect_garbage(now=NOW) == len(gone) + 1  # and the stale temporary
    remaining = {f.path for f in layout.data_files("steps") + layout.data_files("journeys")}
    assert remaining == {f.path for f in files} - gone
    assert not stale.exists() and recent.exists() and stray.exists()
    assert all((layout.table_dir(t) / "_schema.parquet").exists() for t in TABLES)
    assert layout.collect_garbage(now=NOW) == 0


def test_collect_garbage_on_many_runs_agrees_with_the_rule_and_stats_little(tmp_path, monkeypatch):
    layout = new_store(tmp_path)
    rng = random.Random(12)
    for run in range(60):
        flushes = rng.choice([1, 1, 5, 40, 70, 100])
        for k in range(1, flushes + 1):
            put(layout, f"run{run:02d}", k, k, rng.choice([5, SEGMENT_GRACE_S * 3]))
        for size in (32, 1024):  # the merges compact would have made, some with the run's end merge
            for lo in range(1, flushes - size + 2, size):
                put(layout, f"run{run:02d}", lo, lo + size - 1, rng.uniform(0, SEGMENT_GRACE_S * 2))
        if flushes > 1 and rng.random() < 0.5:
            put(layout, f"run{run:02d}", 1, flushes, rng.uniform(0, SEGMENT_GRACE_S * 2))
    files = layout.data_files("steps")
    gone = expected_garbage(files)
    assert 100 < len(gone) < len(files) - 100, (len(gone), len(files))
    live_before = {f.path for f in files if not any(g.covers(f) for g in files)}
    assert {f.path for f in layout.live_files("steps")} == live_before

    stats = []
    older_than = layout_module._older_than
    monkeypatch.setattr(layout_module, "_older_than", lambda path, moment: (stats.append(path),
                                                                            older_than(path, moment))[1])
    assert layout.collect_garbage(now=NOW) == len(gone)
    assert {f.path for f in layout.data_files("steps")} == {f.path for f in files} - gone
    assert len(stats) <= len(files) - len(gone) and len(set(stats)) == len(stats)
    assert {f.path for f in layout.live_files("steps")} == live_before  # no row lost, none doubled
    later = NOW + SEGMENT_GRACE_S * 3  # every merge is old now: only what no file covers stays
    assert layout.collect_garbage(now=later) > 0
    left = layout.data_files("steps")
    assert {f.path for f in left} == live_before and len({f.run for f in left}) == 60
    stats.clear()
    assert layout.collect_garbage(now=later) == 0
    alone = {f.path for f in left if sum(g.run == f.run for g in left) == 1}
    assert len(alone) > 10 and not alone & set(stats)  # a run of one file is not even looked at


def test_a_file_another_process_collected_first_is_not_an_error(tmp_path, monkeypatch):
    layout = new_store(tmp_path)
    wide = put(layout, "r", 1, 32, SEGMENT_GRACE_S + 5)
    narrow = [put(layout, "r", k, k, SEGMENT_GRACE_S + 5) for k in range(1, 33)]
    scan = StoreLayout._scan

    def racing_scan(self, table, *args):  # the listing is taken, then another session deletes files
        listed = scan(self, table, *args)
        if table == "steps":
            for path in narrow[::2]:
                path.unlink(missing_ok=True)
        return listed

    monkeypatch.setattr(StoreLayout, "_scan", racing_scan)
    assert layout.collect_garbage(now=NOW) == 16
    assert [f.path for f in layout.data_files("steps")] == [wide]


def test_live_files_and_collect_garbage_stay_cheap_with_thousands_of_files(tmp_path):
    layout = new_store(tmp_path)
    folder = layout.table_dir("steps")
    seed = put(layout, "seed", 1, 1, 0)
    names = [f"run{run:03d}~{k:06d}-{k:06d}.parquet" for run in range(4) for k in range(1, 1501)]
    names += [f"run{run:03d}~000001-001500.parquet" for run in range(2)]  # two of the four were merged
    names += [f"done{run:04d}~000001-000100.parquet" for run in range(3000)]  # finished runs, merged
    for name in names:
        shutil.copyfile(seed, folder / name)
    started = time.perf_counter()
    live = layout.live_files("steps")
    listed = time.perf_counter() - started
    assert len(live) == 1 + 2 + 2 * 1500 + 3000
    started = time.perf_counter()
    assert layout.collect_garbage() == 0  # the merges are new
    assert layout.collect_garbage(now=time.time() + SEGMENT_GRACE_S + 1) == 2 * 1500
    collected = time.perf_counter() - started
    # Every file against every file was about 80 million comparisons here (tens of seconds).
    assert listed < 2.0 and collected < 5.0, (listed, collected)


# --- (d) an interrupted write leaves no visible partial file ---------------------------------------------
def visible(layout: StoreLayout) -> list[str]:
    """The steps files a reader would read (``reader.table_sql`` globs ``*.parquet``)."""
    return sorted(p.name for p in layout.table_dir("steps").glob("*.parquet") if p.name != "_schema.parquet")


def everything(layout: StoreLayout) -> list[str]:
    """Every name in the steps folder, hidden ones too, but the schema file."""
    return sorted(name for name in os.listdir(layout.table_dir("steps")) if name != "_schema.parquet")


def test_a_failed_merge_leaves_neither_a_partial_file_nor_a_temporary(tmp_path, monkeypatch):
    layout = new_store(tmp_path)
    total = write_segments(layout, "r1", [100, 200, 300])
    layout.data_path("steps", "r1", 3, 3).write_bytes(b"PAR1 truncated by a full disk")
    before = visible(layout)
    with pytest.raises(pa.ArrowInvalid):
        layout.merge("steps", layout.live_files("steps", "r1"))
    assert visible(layout) == before
    assert everything(layout) == before  # the temporary is gone too

    def write_half_then_fail(table, handle, **kwargs):  # a full disk, half-way through a flush
        handle.write(b"PAR1" + bytes(1000))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", write_half_then_fail)
    with pytest.raises(OSError, match="No space"):  # write_atomically cleans up the same way
        write_atomically(steps_rows(0, 10), layout.data_path("steps", "r2", 1, 1))
    assert everything(layout) == before
    monkeypatch.undo()
    write_segments(layout, "r1", [100, 200, 300])
    assert connect(layout.root).execute("SELECT count(*) FROM steps").fetchone()[0] == total


KILLED_MERGE = r"""
import pathlib, sys, time
import pyarrow.parquet as pq
from engine.store.layout import StoreLayout
ready = pathlib.Path(sys.argv[2])
write_table = pq.ParquetWriter.write_table
def slow_write_table(self, *args, **kwargs):  # one row group written, then the kill comes
    write_table(self, *args, **kwargs)
    ready.touch()
    time.sleep(60)
pq.ParquetWriter.write_table = slow_write_table
layout = StoreLayout(sys.argv[1])
layout.merge("steps", layout.live_files("steps", "r1"))
"""


def test_a_merge_killed_with_9_half_way_leaves_only_a_hidden_temporary(tmp_path):
    layout = new_store(tmp_path)
    total = write_segments(layout, "r1", [40_000, 40_000, 40_000])
    before = visible(layout)
    ready = tmp_path / "ready"
    merging = subprocess.Popen([sys.executable, "-c", KILLED_MERGE, str(layout.root), str(ready)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and merging.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ready.exists(), merging.stderr.read() if merging.poll() is not None else "no row group in 60 s"
        merging.send_signal(signal.SIGKILL)
    finally:
        merging.kill()
        merging.wait(timeout=30)
    assert visible(layout) == before
    temporaries = [p for p in layout.table_dir("steps").iterdir() if p.name.endswith(".tmp")]
    assert len(temporaries) == 1 and temporaries[0].name.startswith(".") and temporaries[0].stat().st_size > 0
    assert [f.path.name for f in layout.live_files("steps", "r1")] == before
    assert connect(layout.root).execute("SELECT count(*), count(DISTINCT journey) FROM steps").fetchone() == (
        total, total)
    assert layout.collect_garbage() == 0  # it may be a merge still running: left for an hour
    assert layout.collect_garbage(now=time.time() + STALE_TEMPORARY_S + 1) == 1
    assert not temporaries[0].exists() and visible(layout) == before
