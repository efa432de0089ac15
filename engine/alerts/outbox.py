"""Delivering alerts without getting in the walk's way: a queue, one thread, retries with back-off.

``put`` writes the alert to the journal (flushed) and hands it to the thread; the walk never waits
for a sink. An answer of 429 or 5xx, or none at all, is retried after 1, 2, 4... seconds (at most
``max_backoff_s``); any other 4xx means the sink refuses it for good (a wrong key, a bad URL) and
is recorded as rejected. 2xx is delivered. Every attempt is a journal line. When the run ends,
``close`` waits a little for what is still queued; what is left stays pending in the journal
and the next run on the store sends it.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Any, Callable

import httpx

from engine.alerts.sinks import Sink
from engine.store.alert_journal import AlertJournal, QueuedAlert

__all__ = ["Outbox"]


class Outbox:
    def __init__(self, journal: AlertJournal, *, run_id: str, timeout_s: float = 10.0,
                 max_backoff_s: float = 60.0, on_delivery: Callable[[str, str, str], None] | None = None) -> None:
        self.journal = journal
        self.run_id = run_id
        self.timeout_s = timeout_s
        self.max_backoff_s = max_backoff_s
        self.on_delivery = on_delivery  # (sink, alert summary, outcome) for the terminal
        self._heap: list[tuple[float, int, Sink, dict[str, Any], int]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._closing = False
        self._in_flight = 0
        self._thread: threading.Thread | None = None

    def put(self, sink: Sink, alert: dict[str, Any]) -> None:
        self.journal.write({"kind": "queued", "id": alert["id"], "sink": sink.name, "run_id": self.run_id,
                            "alert": alert})
        self._push(sink, alert, attempts=0, due=time.monotonic())

    def resume(self, sink: Sink, queued: QueuedAlert) -> None:
        """An alert an earlier run queued and never delivered: sent again, in that alert's name."""
        self._push(sink, queued.alert, attempts=queued.attempts, due=time.monotonic())

    def _push(self, sink: Sink, alert: dict[str, Any], *, attempts: int, due: float) -> None:
        with self._wake:
            heapq.heappush(self._heap, (due, next(self._order), sink, alert, attempts))
            if self._thread is None:
                self._thread = threading.Thread(target=self._deliver, name="journeys-alerts", daemon=True)
                self._thread.start()
            self._wake.notify()

    def close(self, wait_s: float = 10.0) -> None:
        """Wait up to ``wait_s`` for the queue to empty; what is left stays pending in the journal."""
        deadline = time.monotonic() + wait_s
        with self._wake:
            while (self._heap or self._in_flight) and time.monotonic() < deadline:
                self._wake.wait(timeout=min(0.1, max(0.0, deadline - time.monotonic())))
            self._closing = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 1)
        self.journal.close()

    @property
    def queued(self) -> int:
        with self._wake:
            return len(self._heap) + self._in_flight

    def _deliver(self) -> None:
        with httpx.Client(timeout=self.timeout_s, headers={"User-Agent": "journeys-alerts"}) as client:
            while True:
                with self._wake:
                    while not self._closing and (not self._heap or self._heap[0][0] > time.monotonic()):
                        self._wake.wait(timeout=(self._heap[0][0] - time.monotonic()) if self._heap else None)
                    if self._closing:
                        return
                    _, _, sink, alert, attempts = heapq.heappop(self._heap)
                    self._in_flight += 1
                try:
                    self._send(client, sink, alert, attempts)
                finally:
                    with self._wake:
                        self._in_flight -= 1
                        self._wake.notify_all()

    def _send(self, client: httpx.Client, sink: Sink, alert: dict[str, Any], attempts: int) -> None:
        line = {"id": alert["id"], "sink": sink.name}
        try:
            response = client.post(sink.url, json=sink.render(alert), headers=sink.headers)
            status, error = response.status_code, None
        except httpx.HTTPError as raised:
            status, error = None, f"{type(raised).__name__}: {raised}"[:300]
        if status is not None and 200 <= status < 300:
            self.journal.write({"kind": "delivered", **line, "status": status})
            self._told(sink, alert, "delivered")
        elif status is not None and 400 <= status < 500 and status != 429:
            self.journal.write({"kind": "rejected", **line, "status": status,
                                "error": response.text[:300] if response.text else None})
            self._told(sink, alert, f"rejected ({status}): check the sink's settings")
        else:
            self.journal.write({"kind": "attempt", **line, "status": status, "error": error})
            backoff = min(self.max_backoff_s, 2.0 ** attempts)
            self._push(sink, alert, attempts=attempts + 1, due=time.monotonic() + backoff)

    def _told(self, sink: Sink, alert: dict[str, Any], outcome: str) -> None:
        if self.on_delivery is not None:
            try:
                self.on_delivery(sink.name, alert["summary"], outcome)
            except Exception:  # noqa: BLE001 - telling is best effort, delivering is what counts
                pass
