"""The circuit breaker: an outage is waited out as one availability incident, never a finding.

Every request's outcome is noted: *unavailable* means no answer at all, or a
gateway's 502, 503 or 504. When the last ``consecutive`` attempts were all
unavailable, or ``ratio`` of the last ``window``, or (with ``slow_s``) the
window's median answer took longer than that, the breaker **asks the
target**: one probe (``GET`` of the probe path, through the rate cap). A probe
that gets an answer other than 502/503/504 (in time, with ``slow_s``) means the target is up and one
endpoint is failing (a bug, which the walk should find): the counts start
again. A probe that does not means an outage: the breaker opens, and every
request raises ``TargetDown`` before it is sent, until ``wait_out`` has seen a
probe succeed (probing after 1, 2, 4... seconds, at most ``max_wait_s`` apart).

The walk asks the breaker the same question when a step fails by getting no
answer or a 502/503/504 (``unavailable_now``): before a failure is shrunk, the
target must be shown to be up.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable

import attrs

__all__ = ["Breaker", "BreakerSettings", "Incident", "TargetDown", "UNAVAILABLE_STATUSES"]

UNAVAILABLE_STATUSES = frozenset({502, 503, 504})


class TargetDown(Exception):
    """The breaker is open: the target is down, and nothing was sent."""


@attrs.frozen
class BreakerSettings:
    consecutive: int = 5      # unavailable attempts in a row that make the breaker ask
    window: int = 20          # recent attempts the ratio is taken over
    ratio: float = 0.8        # share of them unavailable that makes it ask
    first_wait_s: float = 1.0
    max_wait_s: float = 60.0  # the longest pause between two probes while the target is down
    probe_path: str = "/"
    slow_s: float | None = None  # the median answer of the window slower than this also makes it ask,
    #                              and a probe slower than this counts as the target being down


@attrs.define
class Incident:
    """One outage, from the probe that confirmed it to the one that saw the target back."""

    started_at: float            # epoch seconds
    reason: str                  # what tripped the breaker
    ended_at: float | None = None  # None: the run ended (its time was spent) before the target came back
    probes: int = 1

    @property
    def duration_s(self) -> float:
        return (self.ended_at or time.time()) - self.started_at


class Breaker:
    """Counts unavailable answers, confirms an outage with a probe, and waits it out."""

    def __init__(self, probe: Callable[[], bool], settings: BreakerSettings = BreakerSettings(), *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.probe = probe  # True: the target answered (anything but 502/503/504)
        self.settings = settings
        self.sleep = sleep
        self.recent: deque[bool] = deque(maxlen=settings.window)
        self.latencies: deque[float] = deque(maxlen=settings.window)
        self.in_a_row = 0
        self.incident: Incident | None = None   # the outage under way (the breaker is open)
        self.incidents: list[Incident] = []     # every outage of the run, the current one included
        self._probing = False

    @property
    def open(self) -> bool:
        return self.incident is not None

    def before_send(self) -> None:
        if self.incident is not None and not self._probing:
            raise TargetDown(f"the target is down ({self.incident.reason}); nothing was sent")

    def note(self, unavailable: bool, latency_s: float | None = None) -> None:
        """One attempt's outcome (and how long its answer took); may probe the target and open the breaker."""
        if self._probing:
            return
        self.recent.append(unavailable)
        if latency_s is not None:
            self.latencies.append(latency_s)
        self.in_a_row = self.in_a_row + 1 if unavailable else 0
        if self.incident is not None:
            return
        settings = self.settings
        if self.in_a_row >= settings.consecutive:
            self._confirm(f"{self.in_a_row} requests in a row got no answer or a 502/503/504")
        elif len(self.recent) == settings.window and sum(self.recent) >= settings.ratio * settings.window:
            self._confirm(f"{sum(self.recent)} of the last {settings.window} requests got no answer "
                          "or a 502/503/504")
        elif settings.slow_s is not None and len(self.latencies) == settings.window \
                and sorted(self.latencies)[settings.window // 2] > settings.slow_s:
            self._confirm(f"the median answer of the last {settings.window} requests took "
                          f"{sorted(self.latencies)[settings.window // 2]:.1f}s (over {settings.slow_s:g}s)")

    def unavailable_now(self, reason: str) -> bool:
        """Is the target down? Probes it unless the breaker is already open; opens it if so."""
        if self.incident is None:
            self._confirm(reason)
        return self.incident is not None

    def wait_out(self, *, deadline: Callable[[], float | None] = lambda: None,
                 on_probe: Callable[[Incident], None] = lambda incident: None) -> Incident | None:
        """Probe with growing pauses until the target answers; the incident, ended (or not, if
        ``deadline`` came first). None when the breaker was not open."""
        incident = self.incident
        if incident is None:
            return None
        wait = self.settings.first_wait_s
        while True:
            until = deadline()
            if until is not None and time.monotonic() + wait > until:
                return incident  # the run's time is spent: the incident stays open in the record
            self.sleep(wait)
            incident.probes += 1
            on_probe(incident)
            if self._probe():
                incident.ended_at = time.time()
                self.incident = None
                self.recent.clear()
                self.latencies.clear()
                self.in_a_row = 0
                return incident
            wait = min(wait * 2, self.settings.max_wait_s)

    def _confirm(self, reason: str) -> None:
        if self._probe():
            self.recent.clear()  # the target is up: one endpoint is failing, which is the walk's to find
            self.latencies.clear()
            self.in_a_row = 0
            return
        self.incident = Incident(started_at=time.time(), reason=reason)
        self.incidents.append(self.incident)

    def _probe(self) -> bool:
        self._probing = True
        try:
            return self.probe()
        finally:
            self._probing = False
