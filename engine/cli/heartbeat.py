"""A heartbeat a monitor can watch when no terminal is attached.

``--heartbeat FILE`` keeps a small JSON document up to date every
``--heartbeat-every`` seconds (default 30), from a thread of its own, so it keeps
beating while the run waits (a pause window, an outage, a slow target); a run
with a store keeps the same document as its row of the store's ``heartbeats``
view (``engine.store.heartbeats``), with or without ``--heartbeat``:

    {"run_id": "...", "at": "2026-12-03T07:30:00Z", "uptime_s": 3600.2, "every_s": 30.0,
     "state": "exploring", "journeys": 5120, "steps": 81234, "steps_per_s": 22.6, "failures": 3,
     "known_met": 2, "pace": "cap 5/s (mon-fri 08:00-20:00 5/s)", "outages": 1, "finished": false,
     "host": "runner-3", "pid": 4242}

A monitor alerts when ``at`` is older than a few intervals. Each file is replaced
atomically (written beside it, then renamed), so a reader never sees half of it.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from datetime import datetime, timezone
from typing import Any

from engine.events import (Event, FailureFound, JourneyFinished, OutageEnded, OutageStarted, RateChanged,
                           RunFinished, RunStarted, StepFinished)

__all__ = ["Heartbeat", "STORE_BEAT_S"]

STORE_BEAT_S = 30.0  # a worker's row in the store: its parent's status line reads a file of its own each second


class Heartbeat:
    """An event subscriber that counts, and a thread that writes the counts every ``every_s``."""

    def __init__(self, *paths: str | os.PathLike[str], every_s: float = 30.0) -> None:
        self.paths = paths
        self.every_s = every_s
        self.state: dict[str, Any] = {"run_id": None, "state": "starting", "journeys": 0, "steps": 0,
                                      "failures": 0, "known_met": 0, "pace": None, "outages": 0,
                                      "finished": False, "every_s": every_s, "host": socket.gethostname(),
                                      "pid": os.getpid()}
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._writing = threading.Lock()  # the beat thread and the final beat must not share a temporary
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="journeys-heartbeat", daemon=True)
        self._write()  # a bad path fails here, before the run starts, as an OSError
        self._thread.start()

    def handle(self, event: Event) -> None:
        with self._lock:
            state = self.state
            if isinstance(event, RunStarted):
                state["run_id"], state["state"] = event.run_id, "exploring"
            elif isinstance(event, StepFinished):
                state["steps"] += 1
            elif isinstance(event, JourneyFinished) and event.phase == "explore":
                state["journeys"] += 1
            elif isinstance(event, FailureFound):
                state["failures"] += 1
            elif isinstance(event, RateChanged):
                state["pace"] = event.description
                state["state"] = "paused" if event.paused else "exploring"
            elif isinstance(event, OutageStarted):
                state["state"] = "waiting: the target is down"
            elif isinstance(event, OutageEnded):
                state["outages"] += 1
                state["state"] = "exploring"
            elif isinstance(event, RunFinished):
                state["known_met"] = len(event.known_met)
                state["state"], state["finished"] = f"finished: {event.stop_reason}", True
        if isinstance(event, RunFinished):
            self._write()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._write()

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self._write()
            except OSError:
                pass  # a full disk must not stop the run; the stale heartbeat says something is wrong

    def _write(self) -> None:
        with self._writing:  # one writer at a time, and the last one to write has the latest counts
            with self._lock:
                uptime = time.monotonic() - self.started
                document = {**self.state, "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                            "uptime_s": round(uptime, 1),
                            "steps_per_s": round(self.state["steps"] / uptime, 1) if uptime > 0 else 0.0}
            failed: OSError | None = None
            for path in self.paths:  # one that cannot be written does not hold up the others
                try:
                    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                    temporary = f"{path}.{os.getpid()}.tmp"
                    with open(temporary, "w", encoding="utf-8") as handle:
                        json.dump(document, handle, indent=1)
                    os.replace(temporary, path)
                except OSError as error:
                    failed = failed or error
            if failed is not None:
                raise failed
