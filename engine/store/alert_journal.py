"""The alert journal: every alert a run queued, each attempt to deliver it, and how it ended.

    journeys-store/alerts/
      3f2a9c1d0e7b.jsonl      one run's alerts, one JSON object per line
      test-5d1e0a9b.jsonl     what one ``journeys alerts test`` sent

``queued`` (the alert as built, for one sink: never a credential; the sink adds its key when it
sends), ``attempt`` (an answer that asks for a retry, or none: status, error), ``delivered``,
``rejected`` (the sink refused it for good: a 4xx other than 429). Each line is flushed as it is
written, so an alert queued before a crash is sent again by the next run on the store (it is
*pending*: queued, neither delivered nor rejected, in any file). What was queued per sink and key
decides what a later run sends, across processes: one trigger per failure, until it is resolved.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import IO, Any, Iterable

import attrs
import pyarrow as pa

__all__ = ["AlertJournal", "AlertHistory", "read_alert_journal", "parse_alert_journal", "alerts_dir", "ALERTS_SCHEMA"]

ALERTS_SCHEMA = pa.schema([
    ("alert_id", pa.string()), ("run_id", pa.string()), ("sink", pa.string()), ("key", pa.string()),
    ("action", pa.string()), ("kind", pa.string()), ("summary", pa.string()),
    ("queued_at", pa.timestamp("us", tz="UTC")), ("attempts", pa.int32()), ("last_status", pa.int32()),
    ("last_error", pa.string()), ("status", pa.string()), ("finished_at", pa.timestamp("us", tz="UTC")),
])


def alerts_dir(store_root: str | os.PathLike[str]) -> Path:
    return Path(store_root) / "alerts"


class AlertJournal:
    """Appends to one file of the journal; safe to call from the walk and the delivery thread."""

    def __init__(self, store_root: str | os.PathLike[str], name: str) -> None:
        self.folder = alerts_dir(store_root)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"{name}.jsonl"
        self._file: IO[str] | None = None
        self._lock = threading.Lock()

    def write(self, line: dict[str, Any]) -> None:
        with self._lock:
            if self._file is None:
                self._file = open(self.path, "a", encoding="utf-8")
            self._file.write(json.dumps({"at": time.time(), **line}, ensure_ascii=False, default=str) + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


@attrs.define
class QueuedAlert:
    alert_id: str
    run_id: str
    sink: str
    alert: dict[str, Any]
    queued_at: float
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    status: str = "pending"  # "delivered", "rejected"
    finished_at: float | None = None


@attrs.define
class AlertHistory:
    """Everything the journal holds, oldest first."""

    alerts: list[QueuedAlert]
    malformed: int = 0

    def pending(self) -> list[QueuedAlert]:
        return [a for a in self.alerts if a.status == "pending"]

    def last_action(self, sink: str, key: str) -> str | None:
        """``trigger`` or ``resolve``: what was last queued for ``key`` on ``sink`` (None: nothing)."""
        last = None
        for queued in self.alerts:
            if queued.sink == sink and queued.alert.get("key") == key and queued.status != "rejected":
                last = queued.alert.get("action")
        return last

    def as_table(self) -> pa.Table:
        rows = [{"alert_id": a.alert_id, "run_id": a.run_id, "sink": a.sink, "key": a.alert.get("key"),
                 "action": a.alert.get("action"), "kind": a.alert.get("kind"), "summary": a.alert.get("summary"),
                 "queued_at": int(a.queued_at * 1e6), "attempts": a.attempts, "last_status": a.last_status,
                 "last_error": a.last_error, "status": a.status,
                 "finished_at": int(a.finished_at * 1e6) if a.finished_at else None} for a in self.alerts]
        return pa.Table.from_pylist(rows, schema=ALERTS_SCHEMA)


def read_alert_journal(store_root: str | os.PathLike[str]) -> AlertHistory:
    folder = alerts_dir(store_root)
    files = sorted(folder.glob("*.jsonl"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    texts = []
    for path in files:
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except OSError:
            continue
    return parse_alert_journal(texts)


def parse_alert_journal(texts: Iterable[str]) -> AlertHistory:
    """The alerts the journal's files (their texts, oldest file first) record."""
    by_id: dict[tuple[str, str], QueuedAlert] = {}
    malformed = 0
    lines = []
    for text in texts:
        for raw in text.splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                malformed += 1  # a line cut short by a crash
    lines.sort(key=lambda line: line.get("at", 0.0))
    for line in lines:
        kind, key = line.get("kind"), (line.get("id"), line.get("sink"))
        if kind == "queued" and key not in by_id:
            by_id[key] = QueuedAlert(alert_id=line["id"], run_id=line.get("run_id", ""), sink=line["sink"],
                                     alert=line.get("alert", {}), queued_at=line.get("at", 0.0))
            continue
        queued = by_id.get(key)
        if queued is None:
            continue
        if kind == "attempt":
            queued.attempts += 1
            queued.last_status, queued.last_error = line.get("status"), line.get("error")
        elif kind in ("delivered", "rejected"):
            queued.attempts += 1
            queued.last_status, queued.last_error = line.get("status"), line.get("error")
            queued.status, queued.finished_at = kind, line.get("at")
    return AlertHistory(alerts=sorted(by_id.values(), key=lambda a: a.queued_at), malformed=malformed)
