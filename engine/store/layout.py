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

Merging streams: the files are read a batch at a time and written as row
groups of a bounded size, so a merge needs memory for about one row group, not
for the run (a days-long run's steps are merged at its end). A file written
before a column was added reads that column as nulls, as ``union_by_name``
does for readers. Finding the covered files sorts each run's files by range and
sweeps them once, so listing or collecting a folder costs little more than
reading its names, however many runs it holds.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from itertools import groupby
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

from engine.store.schema import TABLES

__all__ = ["DEFAULT_STORE", "SEGMENT_GRACE_S", "DataFile", "StoreLayout", "covered_files", "parse_data_file",
           "write_atomically"]

DEFAULT_STORE = "journeys-store"
FANOUT = 32  # this many files of one size are merged into one file of the next size
MERGE_APART_FROM_LEVEL = 1  # merging files this wide or wider runs in a child process (merge_apart)
MERGE_APART_TIMEOUT_S = 600.0
SEGMENT_GRACE_S = 600.0  # covered files are deleted this long after the covering file appeared
STALE_TEMPORARY_S = 3600.0
READ_BATCH_ROWS = 8_192  # a merge reads its files this many rows at a time...
ROW_GROUP_ROWS = 65_536  # ...and writes a row group once this many rows...
ROW_GROUP_BYTES = 32 << 20  # ...or this many bytes (decoded) are buffered
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


def parse_data_file(name: str, path) -> DataFile | None:
    """The data file named ``name`` (``<run>~<lo>-<hi>.parquet``) at ``path``; None for any other name."""
    match = _DATA_FILE.match(name)
    return DataFile(path, match["run"], int(match["lo"]), int(match["hi"])) if match else None


@contextmanager
def _atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A file to write ``path`` through: a hidden temporary, fsynced and renamed into place at
    the end of the block, removed if the block fails."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temporary, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_atomically(table: pa.Table, path: Path) -> None:
    """Write ``table`` as Parquet at ``path``: temporary file, fsync, rename."""
    with _atomic_file(path) as handle:
        pq.write_table(table, handle, compression="zstd")


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with ``schema``'s columns, in its order and types; a column it lacks is nulls."""
    columns = []
    for field in schema:
        index = batch.schema.get_field_index(field.name)
        if index < 0:
            columns.append(pa.nulls(batch.num_rows, field.type))
        else:
            column = batch.column(index)
            columns.append(column if column.type == field.type else column.cast(field.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _batches(paths: Iterable[Path], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """The rows of ``paths``, file after file, a batch at a time, conformed to ``schema``."""
    for path in paths:
        with pq.ParquetFile(path) as parquet:
            present = set(parquet.schema_arrow.names)
            columns = [name for name in schema.names if name in present]
            for batch in parquet.iter_batches(batch_size=READ_BATCH_ROWS, columns=columns):
                if batch.num_rows:
                    yield _conform(batch, schema)


def covered_files(files: list[DataFile], counts: Callable[[DataFile], bool]) -> set[Path]:
    """The paths of ``files`` (all of one run) that a file ``counts`` accepts covers.

    Sorted by ``lo`` up and ``hi`` down, a file comes after every file that covers it, so
    one sweep keeping the highest ``hi`` of the accepted files so far finds them: a file is
    covered when that ``hi`` reaches its own. ``counts`` is asked only about a file whose
    ``hi`` is beyond it (so a run merged long ago costs one ``stat``, not one per file).
    """
    covered: set[Path] = set()
    reach = None
    for _, same in groupby(sorted(files, key=lambda f: (f.lo, -f.hi)), key=lambda f: (f.lo, f.hi)):
        same = list(same)  # files of one range (run~1-1 and run~000001-000001) do not cover each other
        if reach is not None and reach >= same[0].hi:
            covered.update(f.path for f in same)
        elif any(counts(f) for f in same):
            reach = same[0].hi
    return covered


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
        """The table's data files, sorted by run, then ``lo`` up, then ``hi`` down."""
        return sorted(self._scan(table, run_id)[0], key=lambda f: (f.run, f.lo, -f.hi))

    def _scan(self, table: str, run_id: str | None = None) -> tuple[list[DataFile], list[str]]:
        """One listing of the table's folder: its data files (of ``run_id``) and its temporaries."""
        files: list[DataFile] = []
        temporaries: list[str] = []
        folder = self.table_dir(table)
        if not folder.is_dir():
            return files, temporaries
        prefix = "" if run_id is None else f"{run_id}~"
        with os.scandir(folder) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".") and name.endswith(".tmp"):
                    temporaries.append(entry.path)
                elif name.startswith(prefix) and (data_file := parse_data_file(name, Path(entry.path))):
                    files.append(data_file)
        return files, temporaries

    def live_files(self, table: str, run_id: str | None = None) -> list[DataFile]:
        """The files no other file covers: together they hold every row exactly once."""
        files = self.data_files(table, run_id)
        covered: set[Path] = set()
        for _, run in groupby(files, key=lambda f: f.run):
            run = list(run)
            if len(run) > 1:
                covered |= covered_files(run, lambda f: True)
        return [f for f in files if f.path not in covered]

    def merge(self, table: str, files: list[DataFile]) -> DataFile | None:
        """Write one file covering ``files`` (of one run); the covered files stay for now.

        Streams: one batch read and one row group buffered at a time, rows in ``lo`` order.
        """
        if len(files) < 2:
            return None
        schema = TABLES[table]
        lo, hi = min(f.lo for f in files), max(f.hi for f in files)
        path = self.data_path(table, files[0].run, lo, hi)
        paths = [f.path for f in sorted(files, key=lambda f: f.lo)]
        with _atomic_file(path) as handle, pq.ParquetWriter(handle, schema, compression="zstd") as writer:
            buffered: list[pa.RecordBatch] = []
            rows = size = 0
            for batch in _batches(paths, schema):
                buffered.append(batch)
                rows, size = rows + batch.num_rows, size + batch.nbytes
                if rows >= ROW_GROUP_ROWS or size >= ROW_GROUP_BYTES:
                    writer.write_table(pa.Table.from_batches(buffered, schema), row_group_size=rows)
                    buffered, rows, size = [], 0, 0
            if buffered:
                writer.write_table(pa.Table.from_batches(buffered, schema), row_group_size=rows)
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
            if full[0].level >= MERGE_APART_FROM_LEVEL:
                self.merge_apart(table, full)
            else:
                self.merge(table, full)

    def merge_apart(self, table: str, files: list[DataFile]) -> None:
        """``merge`` in a child process, so its buffers are the child's and go when it exits.

        A long run's second-level merge (tens of MB, every ~34 minutes) otherwise raises the
        writer's high-water mark (161 instead of 138 MB replaying a soak's store); a child costs a
        third of a second. It has a session of its own: a Ctrl-C meant for the run does not cut
        it short. If it cannot run, or fails, the merge is made here.
        """
        command = [sys.executable, "-m", "engine.store.merge_apart", str(self.root), table,
                   *(f.path.name for f in files)]
        engine_home = str(Path(__file__).resolve().parents[2])  # where ``engine`` imports from, installed or not
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [engine_home, os.environ.get("PYTHONPATH")]))}
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=MERGE_APART_TIMEOUT_S,
                                  start_new_session=True, env=environment)
        except (OSError, subprocess.TimeoutExpired):
            done = None
        if done is None or done.returncode != 0:
            self.merge(table, files)

    def merge_run(self, run_id: str) -> None:
        """Merge each table's files of one run into a single file (at the run's end)."""
        for table in TABLES:
            self.merge(table, self.live_files(table, run_id))

    def collect_garbage(self, now: float | None = None) -> int:
        """Delete files covered by a wider file for a while, and temporaries left by a crash."""
        now = time.time() if now is None else now
        removed = 0
        for table in TABLES:
            files, temporaries = self._scan(table)
            for temporary in temporaries:
                removed += _unlink_if_older(temporary, now - STALE_TEMPORARY_S)
            by_run: dict[str, list[DataFile]] = {}
            for data_file in files:
                by_run.setdefault(data_file.run, []).append(data_file)
            for run in by_run.values():
                if len(run) < 2:  # a merged run, or one flush: nothing covers anything
                    continue
                # A file goes once a file covering it has existed for the grace period.
                for path in sorted(covered_files(run, lambda g: _older_than(g.path, now - SEGMENT_GRACE_S))):
                    removed += _unlink_if_older(path, now)
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
