"""The store writer: an event subscriber that flushes Arrow batches to Parquet segments.

``handle`` runs on the walk's thread and only turns an event into a tuple and
appends it to a buffer. A background thread swaps the buffers every
``flush_interval`` seconds (or sooner when one grows past ``max_rows``), builds
one Arrow table per table and writes it as a new segment (see ``layout``). So a
``kill -9`` loses at most the rows of the last interval, and the walk never
waits on the disk. When the run finishes, its segments are merged into one
file per table. With ``mirror`` (``s3://bucket/prefix``), the same thread then copies the run's
new files to object storage (see ``remote``).

Secrets never reach the store: steps keep the method, path and status of
their requests, not headers or bodies, and a failure's reproduction is masked
the same way as the JSON report.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, Callable

import pyarrow as pa
import pyarrow.compute as pc

from engine.events import (CleanupFinished, CleanupRegistered, CleanupWithdrawn, Event, FailureFound,
                           JourneyFinished, OutageEnded, ReplayFinished, RunFinished, RunStarted, StepFinished)
from engine.redact import redact_data, redact_text
from engine.export.report_json import failure_as_dict
from engine.store.layout import StoreLayout, write_atomically
from engine.store.ledger import LedgerWriter
from engine.store.remote import StoreMirror
from engine.store.schema import TABLES, timestamp

__all__ = ["StoreWriter"]


class StoreWriter:
    """Subscribes to the engine's events and appends them to the store."""

    def __init__(self, root, *, flush_interval: float = 2.0, max_rows: int = 50_000,
                 on_error: Callable[[str], None] | None = None, mirror: str | None = None) -> None:
        self.layout = StoreLayout(root)
        self.layout.ensure()
        self.flush_interval = flush_interval
        self.max_rows = max_rows
        self.on_error = on_error or (lambda message: print(f"journeys: store: {message}", file=sys.stderr))
        self.buffers: dict[str, list[tuple]] = {table: [] for table in TABLES}
        self.rows_written = 0
        self.errors: list[str] = []
        self._sequence: dict[str, int] = {}  # per table: the last segment written
        self._run_id: str | None = None
        self._swap = threading.Lock()
        self._writing = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        # Copies of this run's files in a bucket (``remote``), made off the walk's thread after each flush.
        self.mirror = StoreMirror(self.layout, mirror, on_error=self._error) if mirror else None
        self._thread = threading.Thread(target=self._loop, name="journeys-store", daemon=True)
        self._thread.start()
        self.layout.collect_garbage()
        self.ledger = LedgerWriter(self.layout.root)  # written at once, not batched: see ``ledger``

    # --- the hot path ----------------------------------------------------------------------
    def handle(self, event: Event) -> None:
        if isinstance(event, (CleanupRegistered, CleanupWithdrawn, CleanupFinished, RunStarted, RunFinished)):
            try:
                self.ledger.handle(event)
            except OSError as error:  # a full disk must not kill the walk; but a crash could now lose it
                self._error(f"could not write the clean-up ledger: {error}")
        self._buffer(event)

    def _buffer(self, event: Event) -> None:
        row = self._row(event)
        if row is None:
            return
        table, values = row
        extra = self._edges(event) if isinstance(event, RunStarted) else []
        with self._swap:  # the flusher swaps buffers under this lock: no row slips between
            buffer = self.buffers[table]
            buffer.append(values)
            self.buffers["model_edges"].extend(extra)
        if len(buffer) >= self.max_rows:
            self._wake.set()

    @staticmethod
    def _edges(event: RunStarted) -> list[tuple]:
        return [(event.run_id, event.model, action, source, target) for action, source, target in event.edges]

    def _row(self, event: Event) -> tuple[str, tuple] | None:
        if isinstance(event, StepFinished):
            step = event.step
            last = step.requests[-1] if step.requests else None
            failed = step.failed_check
            errors = [r.error for r in step.requests if r.error]
            if failed is not None and failed.kind == "error":
                errors.append(failed.message)
            waited = sum(r.waited_ms for r in step.requests)  # for the rate cap: not the step's latency
            return "steps", (
                event.run_id, event.journey, event.phase, step.index, event.at, step.actor, step.action,
                step.source, step.target, last.method if last else None,
                last.template if last else None, last.path if last else None,
                last.status if last else None, sum(r.attempts for r in step.requests),  # retries included
                sum(r.response_bytes for r in step.requests), step.duration_ms - waited,
                sum(r.elapsed_ms for r in step.requests), step.outcome,
                failed.name if failed is not None else None, redact_text("; ".join(errors)) or None,
                step.fingerprint, waited)
        if isinstance(event, JourneyFinished):
            return "journeys", (event.run_id, event.journey, event.phase, event.at, event.steps,
                                event.outcome, event.fingerprint, event.duration_ms, event.round, event.must_walk)
        if isinstance(event, CleanupFinished):
            return "cleanups", (event.run_id, event.journey, event.at, event.actor, event.created_by_step,
                                event.created_by_action, event.method, event.path, event.status, event.ok,
                                event.requests)
        if isinstance(event, FailureFound):
            failure = event.failure
            reproduction = failure_as_dict(failure)
            return "failures_found", (
                event.run_id, failure.id, event.at, failure.fingerprint.action, failure.fingerprint.check,
                failure.fingerprint.status, failure.kind, redact_text(failure.message), failure.found_in_journey,
                failure.replays_failed, failure.replays_run, len(failure.steps),
                json.dumps(reproduction, ensure_ascii=False, default=str), failure.seed,
                failure.tool_version, failure.replays_inconclusive, failure.minimal)
        if isinstance(event, RunStarted):
            self._run_id = event.run_id
            settings = json.dumps(redact_data(dict(event.settings)), default=str)
            return "runs_started", (event.run_id, event.at, event.host, event.model, event.model_file,
                                    event.model_revision, event.target, event.seed, settings,
                                    event.tool_version)
        if isinstance(event, OutageEnded):
            return "incidents", (event.run_id, event.started_at, event.ended_at, event.duration_s,
                                 redact_text(event.reason), event.probes, event.journeys_discarded)
        if isinstance(event, ReplayFinished):
            self._run_id = event.run_id
            return "replays", (event.run_id, event.fingerprint, event.at, event.target, event.times,
                               event.replays_run, event.replays_failed, event.verdict, event.setup)
        if isinstance(event, RunFinished):
            self._run_id = event.run_id
            coverage = event.coverage
            measured = () if coverage is None else (
                coverage.edges_taken, coverage.edges, coverage.pairs_taken, coverage.pairs, coverage.states_seen,
                coverage.states, list(coverage.never_ran), coverage.strategy)
            return "runs_finished", (event.run_id, event.at, event.journeys, event.shrink_journeys,
                                     event.steps, event.duration_s, len(event.failures),
                                     event.exit_code, event.interrupted, event.stop_reason,
                                     *(measured or (None,) * 8))
        return None

    # --- off the hot path ------------------------------------------------------------------
    def _loop(self) -> None:
        if self.mirror is not None:
            self._mirror(collect=True)
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write everything buffered so far as new segments; the number of rows written."""
        with self._swap:
            taken = {table: rows for table, rows in self.buffers.items() if rows}
            for table in taken:
                self.buffers[table] = []
        if not taken:
            return 0
        written = 0
        with self._writing:
            for table, rows in taken.items():
                run_id = rows[0][0]
                try:
                    batch = _arrow_table(table, rows)
                    sequence = self._sequence.get(table, 0) + 1
                    self._sequence[table] = sequence
                    write_atomically(batch, self.layout.data_path(table, run_id, sequence, sequence))
                    written += len(rows)
                except Exception as error:  # a full disk must not kill the walk; say so once per flush
                    self._error(f"could not write {len(rows)} {table} row(s) to {self.layout.root}: {error}")
                    continue
                try:
                    self.layout.compact(table, run_id)
                except Exception as error:  # the small segments are still there and still read
                    self._error(f"could not merge {table} segments: {error}")
        self.rows_written += written
        if self.mirror is not None:
            self._mirror()
        return written

    def _mirror(self, *, collect: bool = False) -> None:
        with self._writing:
            if self.mirror.sync(self._run_id) and collect:
                try:
                    self.mirror.remote.collect_garbage()
                except Exception as error:  # covered copies only cost space; the reader skips them
                    self._error(f"could not remove covered files from {self.mirror.remote.url}: {error}")

    def close(self) -> None:
        """Stop the flusher, write what is left, merge this run's segments."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=60)
        self.flush()
        self.ledger.close()
        if self._run_id is not None:
            try:
                self.layout.merge_run(self._run_id)
                self.layout.collect_garbage()
            except Exception as error:  # the segments are still there and still read
                self._error(f"could not merge the run's segments: {error}")
        if self.mirror is not None:
            self._mirror(collect=True)

    def _error(self, message: str) -> None:
        self.errors.append(message)
        self.on_error(message)


def _arrow_table(table: str, rows: list[tuple]) -> pa.Table:
    """Columns from row tuples, typed by the table's schema; times are epoch seconds."""
    schema = TABLES[table]
    columns: list[Any] = []
    for field, values in zip(schema, zip(*rows)):
        if field.type == timestamp:
            seconds = pa.array(values, pa.float64())
            micros = pc.cast(pc.round(pc.multiply(seconds, 1_000_000)), pa.int64())
            columns.append(micros.cast(timestamp))
        else:
            columns.append(pa.array(values, field.type))
    return pa.Table.from_arrays(columns, schema=schema)
