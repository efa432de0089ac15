"""Each run's latest heartbeat, kept in the store: one small JSON file per run, read as the ``heartbeats`` view.

A run with a store replaces ``<store>/heartbeats/<run>.json`` every
``--heartbeat-every`` (the same document as ``--heartbeat FILE``), so a monitor
that can read the store (or the bucket a run mirrors to) sees every run's
pulse without a terminal or a file of its own::

    SELECT run_id, beat_at, state FROM heartbeats
    WHERE NOT finished AND beat_at < now() - 3 * every_s * INTERVAL 1 SECOND   -- silent for three beats

One file per run, replaced rather than appended, so a run of days keeps one
row and the mirror copies a few hundred bytes each beat.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pyarrow as pa

__all__ = ["heartbeats_dir", "heartbeat_table", "read_heartbeats", "HEARTBEATS_SCHEMA"]

HEARTBEATS_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("beat_at", pa.timestamp("us", tz="UTC")), ("uptime_s", pa.float64()),
    ("every_s", pa.float64()), ("state", pa.string()), ("finished", pa.bool_()), ("journeys", pa.int64()),
    ("steps", pa.int64()), ("steps_per_s", pa.float64()), ("failures", pa.int64()), ("known_met", pa.int64()),
    ("pace", pa.string()), ("outages", pa.int64()), ("host", pa.string()), ("pid", pa.int64()),
])


def heartbeats_dir(store_root: str | os.PathLike[str]) -> Path:
    return Path(store_root) / "heartbeats"


def heartbeat_table(texts: Iterable[str]) -> pa.Table:
    """The heartbeat documents as rows; one that cannot be read (half copied, say) is left out."""
    rows = []
    for text in texts:
        try:
            beat = json.loads(text)
            beat["beat_at"] = datetime.fromisoformat(beat["at"])  # AT is a keyword in SQL
        except (ValueError, KeyError, TypeError):
            continue
        rows.append({name: beat.get(name) for name in HEARTBEATS_SCHEMA.names})
    return pa.Table.from_pylist(rows, schema=HEARTBEATS_SCHEMA)


def read_heartbeats(store_root: str | os.PathLike[str]) -> pa.Table:
    folder = heartbeats_dir(store_root)
    texts = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except OSError:
            continue
    return heartbeat_table(texts)
