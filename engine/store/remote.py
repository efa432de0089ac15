"""The store on object storage: each run's files copied to an S3-compatible bucket, read there by DuckDB.

    s3://bucket/prefix/              the same layout as a store folder (see ``layout``)
      steps/_schema.parquet
      steps/3f2a9c1d0e7b~000001-000001.parquet
      ...
      alerts/3f2a9c1d0e7b.jsonl          the run's alerts and its clean-up ledger (no secret in either),
      ledger/3f2a9c1d0e7b.jsonl          copied again each time they grew

A run still writes its store in a local folder (a pod's volume, a CI job's workspace): the walk
never waits on the network for its own bookkeeping, and a run whose bucket is unreachable loses
nothing. ``StoreMirror`` copies what the writer wrote, after each flush and at the end: every
file is immutable and named after its run, so pieces of one run on many machines mirror into one
prefix without a lock, and a copy that failed is simply made again at the next flush. A reader
(``connect("s3://...")``) globs the bucket through DuckDB with the same rule as for a folder (a
file a wider one covers is left out), so a run's segments and its merged file are never counted
twice. ``collect_garbage`` removes covered files from the bucket after the same grace period.

The bucket's credentials and endpoint come from the usual AWS settings (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL`` for MinIO, Ceph or any S3-compatible store,
``~/.aws``); journeys never stores or prints them. Needs ``pip install 'journeys[s3]'`` (s3fs).
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path, PurePosixPath
from typing import Callable

import pyarrow as pa

from engine.errors import ConfigError
from engine.store.alert_journal import AlertHistory, alerts_dir, parse_alert_journal
from engine.store.heartbeats import heartbeat_table, heartbeats_dir
from engine.store.ledger import Ledger, ledger_dir, parse_ledger
from engine.store.layout import SEGMENT_GRACE_S, StoreLayout, covered_files, parse_data_file
from engine.store.schema import TABLES

__all__ = ["RemoteStore", "StoreMirror", "is_remote", "remote_store"]

SCHEMES = ("s3://",)


def is_remote(location: str | os.PathLike[str] | None) -> bool:
    return isinstance(location, str) and location.startswith(SCHEMES)


def _filesystem():
    if importlib.util.find_spec("s3fs") is None:
        raise ConfigError("a store on object storage (s3://...) needs s3fs: pip install 'journeys[s3]'")
    import s3fs

    # No listing cache: a notebook left open for hours must see each new segment, as with a folder.
    return s3fs.S3FileSystem(use_listings_cache=False, skip_instance_cache=True)


class RemoteStore:
    """A store's files under ``s3://bucket/prefix``."""

    def __init__(self, url: str) -> None:
        if not is_remote(url) or not url[len("s3://"):].strip("/"):
            raise ConfigError(f"{url!r} is not an object-storage store: write s3://BUCKET/PREFIX")
        self.url = url.rstrip("/")
        self.key = self.url[len("s3://"):]  # bucket/prefix, as s3fs names it
        self.fs = _filesystem()

    def table_dir(self, table: str) -> str:
        """The table's folder in the bucket, as DuckDB globs it (``StoreLayout.table_dir``'s twin)."""
        return f"{self.url}/{table}"

    def has_table(self, table: str) -> bool:
        return self.fs.exists(f"{self.key}/{table}/_schema.parquet")

    def is_store(self) -> bool:
        return self.has_table("runs_started")

    def require(self) -> RemoteStore:
        """This store, checked: no such bucket or store (or one that cannot be read) is a ConfigError."""
        try:
            found = self.is_store()
        except Exception as error:  # no such bucket, refused credentials, nothing listening
            raise ConfigError(f"cannot read the store at {self.url!r}: {_first_line(error)}") from None
        if not found:
            raise ConfigError(f"no journeys store at {self.url!r}; runs copy theirs there with --mirror {self.url}")
        return self

    def listing(self, folder: str) -> list[str]:
        """The names of the files in one of the store's folders (``failures_found``, ...)."""
        path = f"{self.key}/{folder}"
        return [PurePosixPath(name).name for name in self.fs.ls(path)] if self.fs.exists(path) else []

    def put(self, local: str | os.PathLike[str], relative: str) -> None:
        self.fs.put_file(str(local), f"{self.key}/{relative}")

    def journal_texts(self, folder: str) -> list[str]:
        """The texts of ``folder``'s JSON-lines files (``alerts``, ``ledger``), oldest first."""
        folder = f"{self.key}/{folder}"
        entries = self.fs.ls(folder, detail=True) if self.fs.exists(folder) else []
        journals = sorted((e for e in entries if e["name"].endswith(".jsonl")), key=_modified)
        return [self.fs.cat_file(e["name"]).decode("utf-8", "replace") for e in journals]

    def heartbeats(self) -> pa.Table:
        """The runs' latest heartbeats, as the mirrors copied them."""
        folder = f"{self.key}/heartbeats"
        names = [e for e in self.fs.ls(folder) if e.endswith(".json")] if self.fs.exists(folder) else []
        return heartbeat_table(self.fs.cat_file(name).decode("utf-8", "replace") for name in names)

    def alerts(self) -> AlertHistory:
        return parse_alert_journal(self.journal_texts("alerts"))

    def ledger(self) -> Ledger:
        """The clean-up ledgers the runs copied: what `report` counts as still open on the target."""
        return parse_ledger(self.journal_texts("ledger"))

    def collect_garbage(self, now: float | None = None) -> int:
        """Delete the bucket's files that a wider file has covered for the grace period."""
        now = time.time() if now is None else now
        doomed: list[str] = []
        for table in TABLES:
            folder = f"{self.key}/{table}"
            if not self.fs.exists(folder):
                continue
            modified, by_run = {}, {}
            for entry in self.fs.ls(folder, detail=True):
                data_file = parse_data_file(PurePosixPath(entry["name"]).name, entry["name"])
                if data_file is not None:
                    modified[entry["name"]] = _modified(entry)
                    by_run.setdefault(data_file.run, []).append(data_file)
            for run in by_run.values():
                if len(run) > 1:
                    doomed += covered_files(run, lambda f: modified[f.path] < now - SEGMENT_GRACE_S)
        if doomed:
            self.fs.rm(sorted(doomed))
        return len(doomed)


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0] if str(error).strip() else type(error).__name__


def _modified(entry: dict) -> float:
    stamp = entry.get("LastModified") or entry.get("mtime")
    return stamp.timestamp() if hasattr(stamp, "timestamp") else float(stamp or 0.0)


_OPENED: dict[str, RemoteStore] = {}


def remote_store(url: str) -> RemoteStore:
    """The ``RemoteStore`` of ``url``, made once per process: a worker reading the bucket every few
    seconds reuses one filesystem (and its connections) instead of making a new one each time."""
    if url not in _OPENED:
        _OPENED[url] = RemoteStore(url)
    return _OPENED[url]


class StoreMirror:
    """Copies one run's files from the local store to the bucket; safe to call again and again."""

    def __init__(self, layout: StoreLayout, url: str, *, on_error: Callable[[str], None]) -> None:
        self.layout = layout
        self.remote = RemoteStore(url)
        self.on_error = on_error
        self.copied: set[str] = set()  # relative names already in the bucket
        self.journal_sizes: dict[str, tuple[int, int]] = {}  # relative name -> (size, mtime) copied
        self.files_copied = 0
        self._failing: str | None = None  # the error being reported, so a bucket that is down says so once

    def check(self) -> None:
        """Copy the schema files now: a bucket that cannot be written is a clear error before the walk."""
        try:
            self._copy_all(None)
        except Exception as error:
            raise ConfigError(f"--mirror {self.remote.url}: cannot write there: {_first_line(error)} (credentials "
                              "and endpoint come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL "
                              "or ~/.aws)") from None

    def sync(self, run_id: str | None) -> bool:
        """Copy what is new: the schema files once, the run's data files, its alert journal and ledger if they grew."""
        try:
            self._copy_all(run_id)
        except Exception as error:  # the local store holds everything; the next sync copies it
            message = f"could not copy the store to {self.remote.url}: {_first_line(error)}"
            if message != self._failing:
                self.on_error(message + " (retrying at each flush; the local store keeps every row)")
            self._failing = message
            return False
        if self._failing is not None:
            self.on_error(f"copying the store to {self.remote.url} works again")
            self._failing = None
        return True

    def _copy_all(self, run_id: str | None) -> None:
        for table in TABLES:
            self._copy(self.layout.table_dir(table) / "_schema.parquet", f"{table}/_schema.parquet")
            if run_id is not None:
                for data_file in self.layout.data_files(table, run_id):
                    self._copy(data_file.path, f"{table}/{data_file.path.name}")
        if run_id is not None:
            self._copy_journal(alerts_dir(self.layout.root) / f"{run_id}.jsonl")
            self._copy_journal(ledger_dir(self.layout.root) / f"{run_id}.jsonl")
            self._copy_journal(heartbeats_dir(self.layout.root) / f"{run_id}.json")

    def _copy(self, local, relative: str) -> None:
        if relative in self.copied:
            return
        try:
            self.remote.put(local, relative)
        except FileNotFoundError:
            if os.path.exists(local):
                raise  # the bucket, not the local file, is missing
            return  # collected locally meanwhile: a wider file holds its rows and is copied too
        self.copied.add(relative)
        self.files_copied += 1

    def _copy_journal(self, journal: Path) -> None:
        """A file the run appends to (its alerts, its clean-up ledger) or replaces (its heartbeat), again each
        time it changed."""
        relative = f"{journal.parent.name}/{journal.name}"
        try:
            stat = journal.stat()
        except FileNotFoundError:
            return
        if (stat.st_size, stat.st_mtime_ns) != self.journal_sizes.get(relative):
            self.remote.put(journal, relative)
            self.journal_sizes[relative] = (stat.st_size, stat.st_mtime_ns)
