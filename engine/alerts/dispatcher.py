"""Which events become alerts: a bus subscriber, like the store; nothing here touches the walk.

- A new distinct failure triggers once per sink that takes its kind. *Once* is decided by the
  store's alert journal, not this process's memory: a failure some earlier run (or another
  process) already triggered, and nobody resolved, sends nothing.
- A failure that was resolved (or found fixed) and fails again triggers as ``regressed``.
- A replay or re-check that finds a triggered failure fixed resolves it.
- An availability incident triggers only once it has lasted ``outage_after_s``, and then resolves
  when the target answers again; a shorter one sends nothing.
- Alerts an earlier run queued and never delivered are sent again when this one starts.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from engine.alerts.alert import failure_alert, outage_alert, regressed_alert, resolve_alert
from engine.alerts.outbox import Outbox
from engine.alerts.sinks import AlertSettings, Sink
from engine.events import Event, FailureFound, FailureRegressed, OutageEnded, OutageStarted, ReplayFinished
from engine.store.alert_journal import AlertJournal, QueuedAlert, read_alert_journal

__all__ = ["AlertDispatcher"]


class AlertDispatcher:
    def __init__(self, settings: AlertSettings, sinks: list[Sink], store_root: str, *, run_id: str,
                 model: str, target: str, store_label: str = "", on_delivery=None,
                 journal_name: str | None = None, on_left: Callable[[int], None] | None = None) -> None:
        self.settings = settings
        self.sinks = sinks
        self.run_id = run_id
        self.model = model
        self.target = target
        self.store_label = store_label
        self.store_root = store_root
        self.on_left = on_left  # told how many alerts are still undelivered when the run ends
        self.history = read_alert_journal(store_root)
        self.outbox = Outbox(AlertJournal(store_root, journal_name or run_id), run_id=run_id,
                             on_delivery=on_delivery)
        self._lock = threading.Lock()
        self._outage_timer: threading.Timer | None = None
        self._outage_key: str | None = None
        self._outage_fired = False
        by_name = {sink.name: sink for sink in sinks}
        for queued in self.history.pending():  # undelivered before a crash or a sink's long outage
            if queued.sink in by_name and queued.alert.get("kind") != "test":
                self.outbox.resume(by_name[queued.sink], queued)

    # --- the subscriber ------------------------------------------------------------------
    def handle(self, event: Event) -> None:
        if isinstance(event, FailureFound):
            self._failure_found(event)
        elif isinstance(event, FailureRegressed):
            self._regressed(event)
        elif isinstance(event, ReplayFinished) and event.verdict == "fixed":
            self._fixed(event.fingerprint)
        elif isinstance(event, OutageStarted):
            self._outage_started(event)
        elif isinstance(event, OutageEnded):
            self._outage_ended(event)

    def close(self) -> None:
        with self._lock:
            if self._outage_timer is not None:
                self._outage_timer.cancel()
        self.outbox.close()
        left = self.outbox.queued
        if left and self.on_left is not None:
            self.on_left(left)

    # --- what each event sends -------------------------------------------------------------
    def _queue(self, sink: Sink, alert: dict[str, Any]) -> None:
        self.history.alerts.append(QueuedAlert(alert_id=alert["id"], run_id=self.run_id, sink=sink.name,
                                               alert=alert, queued_at=time.time()))
        self.outbox.put(sink, alert)

    def _context(self) -> dict[str, Any]:
        return {"model": self.model, "target": self.target, "store": self.store_label, "run_id": self.run_id}

    def _reread(self) -> None:
        """What every process has queued by now: another run on the store may have sent it meanwhile."""
        self.history = read_alert_journal(self.store_root)

    def _failure_found(self, event: FailureFound) -> None:
        failure = event.failure
        self._reread()
        for sink in self.sinks:
            last = self.history.last_action(sink.name, failure.id)
            if last == "trigger":
                continue  # triggered by an earlier run or process, and still open: once is enough
            kind = "regressed" if last == "resolve" else failure.kind
            alert = failure_alert(failure, kind=kind, **self._context())
            if sink.takes(alert):
                self._queue(sink, alert)

    def _regressed(self, event: FailureRegressed) -> None:
        self._reread()
        for sink in self.sinks:
            if self.history.last_action(sink.name, event.fingerprint) == "trigger":
                continue  # still open there (its fix was never resolved on this sink): once is enough
            alert = regressed_alert(event.fingerprint, event.summary, event.how, **self._context())
            if sink.takes(alert):
                self._queue(sink, alert)

    def _fixed(self, fingerprint: str) -> None:
        self._reread()
        for sink in self.sinks:
            if self.history.last_action(sink.name, fingerprint) != "trigger":
                continue  # nothing open to resolve there
            previous = next(a for a in reversed(self.history.alerts)
                            if a.sink == sink.name and a.alert.get("key") == fingerprint)
            self._queue(sink, resolve_alert(
                fingerprint, f"journeys: fixed: {previous.alert.get('summary', fingerprint)}",
                model=self.model, target=self.target, run_id=self.run_id, kind=previous.alert.get("kind", "regression")))

    def _outage_started(self, event: OutageStarted) -> None:
        key = f"outage-{self.run_id}-{int(event.started_at)}"

        def fire() -> None:
            with self._lock:
                if self._outage_key != key:
                    return
                self._outage_fired = True
            alert = outage_alert(key, "trigger", reason=event.reason, started_at=event.started_at,
                                 model=self.model, target=self.target, run_id=self.run_id)
            for sink in self.sinks:
                if sink.takes(alert):
                    self._queue(sink, alert)

        with self._lock:
            self._outage_key, self._outage_fired = key, False
            lasted = max(0.0, time.time() - event.started_at)  # the breaker confirmed it a little after it began
            self._outage_timer = threading.Timer(max(0.0, self.settings.outage_after_s - lasted), fire)
            self._outage_timer.daemon = True
            self._outage_timer.start()

    def _outage_ended(self, event: OutageEnded) -> None:
        with self._lock:
            if self._outage_timer is not None:
                self._outage_timer.cancel()
            key, fired = self._outage_key, self._outage_fired
            self._outage_key, self._outage_fired = None, False
        if not fired or key is None or event.ended_at is None:
            return  # shorter than the delay (nothing was sent), or the run ended first: it stays open
        alert = outage_alert(key, "resolve", reason=event.reason, started_at=event.started_at,
                             ended_at=event.ended_at, model=self.model, target=self.target, run_id=self.run_id)
        for sink in self.sinks:
            if self.history.last_action(sink.name, key) == "trigger":
                self._queue(sink, alert)
