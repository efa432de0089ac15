"""One rate cap every request waits on: walks, shrinking, replays, pre-flight and clean-ups alike.

``--rate 5/s`` becomes a smooth token bucket (pyrate-limiter's ``TokenBucket``
with a burst of one: requests are spaced ``1/rate`` apart, never bunched), run a
few percent under the rate asked for, so that the target never sees more than
the cap in any window of the rate's length, even when the answers' latency
varies a little. pyrate-limiter keeps the bucket's state in a store: in memory
for one process; in a file the processes of ``--workers`` share
(``engine.http.shared_rate``), so that together they stay under the cap.

The time a request waited for the cap is recorded apart from the target's
latency (``RequestRecord.waited_ms``).
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable

import attrs
from pyrate_limiter import InMemoryStateStore, Limiter, Rate, StateBucket, TokenBucket

from engine.errors import ConfigError
from engine.http.breaker import TargetDown
from engine.http.shared_rate import shared_store

__all__ = ["RateSpec", "parse_rate", "RateCap", "Paused"]

_UNITS_S = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_RATE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+)\s*", re.I)
MARGIN = 0.04      # the bucket runs this much under the rate asked for (latency jitter)
BUFFER_MS = 1      # added to each wait pyrate-limiter computes, so a wake-up is never early


@attrs.frozen
class RateSpec:
    """``requests`` per ``per_s`` seconds, as the user wrote it (``text``)."""

    requests: float
    per_s: float
    text: str

    @property
    def per_second(self) -> float:
        return self.requests / self.per_s

    def __str__(self) -> str:
        return self.text


def parse_rate(text: str) -> RateSpec:
    """``5/s``, ``300/min``, ``1/10s``, ``0.5/s``: requests per time unit (s, min or m, h)."""
    match = _RATE.fullmatch(text)
    word = match.group(3).lower() if match else ""
    unit = _UNITS_S.get(word) or (_UNITS_S.get(word[:-1]) if len(word) > 1 and word.endswith("s") else None)
    if not match or unit is None:
        raise ConfigError(f"rate {text!r}: write requests per time unit, such as 5/s, 300/min, 1/10s or 2000/h")
    requests = float(match.group(1))
    per_s = float(match.group(2) or 1) * unit
    if requests <= 0 or per_s <= 0:
        raise ConfigError(f"rate {text!r}: the number of requests and the time must be above zero")
    return RateSpec(requests=requests, per_s=per_s, text=text.strip())


class Paused(TargetDown):
    """A pause window of the schedule holds: nothing is sent until it ends."""


class RateCap:
    """Blocks each request until the cap allows it; says how long it waited.

    With a ``schedule`` (``engine.http.schedule``), the cap is the current window's, looked up
    at every request; during a pause every request raises ``Paused`` before it is sent.
    ``on_change`` hears each new window's ``Slot``.
    """

    def __init__(self, spec: RateSpec | None, schedule=None, *, shared_state: str | None = None) -> None:
        self.spec = spec
        self.shared_state = shared_state  # where the state lives if shared: a file (--workers), a Redis URL
        self._limiter = _limiter(spec, shared_state) if spec is not None else None
        self.schedule = schedule
        self.slot = None
        self.on_change: Callable[[Any], None] = lambda slot: None
        if schedule is not None:
            self.current()

    def current(self):
        """The schedule's slot now (None without a schedule); switches the cap when it changed."""
        if self.schedule is None:
            return None
        slot = self.schedule.slot()
        if slot != self.slot:
            self.slot = slot
            self.set_rate(slot.rate)
            self.on_change(slot)
        return slot

    def wait(self, *, in_pause: bool = False) -> float:
        """Wait for the next request's turn; the seconds waited. ``in_pause``: a probe may go."""
        slot = self.current()
        if slot is not None and slot.paused and not in_pause:
            raise Paused(f"the schedule pauses the run: {slot.describe()}")
        if self._limiter is None:
            return 0.0
        started = time.perf_counter()
        self._limiter.try_acquire("requests", blocking=True)
        if not in_pause and self.schedule is not None and (slot := self.current()) is not None and slot.paused:
            raise Paused(f"the schedule pauses the run: {slot.describe()}")  # it began while this waited
        return time.perf_counter() - started

    def set_rate(self, spec: RateSpec | None) -> None:
        """Change the cap (a schedule's window began). The new window starts with a fresh bucket: its
        first request may follow the old window's last at once, then the new spacing holds."""
        if spec != self.spec:
            self.spec = spec
            self._limiter = _limiter(spec, self.shared_state) if spec is not None else None


def _limiter(spec: RateSpec, shared_state: str | None = None) -> Limiter:
    # pyrate-limiter's rates are whole requests per whole milliseconds: 0.5/s is 1 per 2,000 ms.
    requests = max(1, round(spec.requests)) if spec.requests >= 1 else 1
    interval_ms = spec.per_s * 1000 * requests / spec.requests
    rate = Rate(requests, max(1, round(interval_ms * (1 + MARGIN))), burst=1)
    store = shared_store(shared_state, rate) if shared_state else InMemoryStateStore()
    bucket = StateBucket([rate], algorithm=TokenBucket(), store=store)
    return Limiter(bucket, buffer_ms=BUFFER_MS)
