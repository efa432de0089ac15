"""Outages during a walk: confirmed by the breaker's probe, waited out, recorded once.

A step that got no answer, or a 502/503/504, might be a bug or the target being
down. ``OutageWatch.down_for`` asks the breaker (``engine.http.breaker``) to
probe before the step's failure is treated as one: when the target is down, the
journey is discarded (not shrunk, not reported, not an occurrence) and
``wait_out`` waits until a probe sees the target answer, emitting one
``OutageStarted`` and one ``OutageEnded``, the availability incident the store
and the summary keep.
"""

from __future__ import annotations

from typing import Callable

from engine.events import Event, Notice, OutageEnded, OutageStarted
from engine.http.breaker import UNAVAILABLE_STATUSES, Breaker
from engine.http.rate import Paused
from engine.walk.journey import StepFailure

__all__ = ["OutageWatch", "unavailable_reason"]


def unavailable_reason(failure: StepFailure) -> str | None:
    """Why this failure might be the target being down (None: it is a finding whatever happens)."""
    step = failure.steps[-1]
    check = failure.check
    request = (step.requests[check.response] if check.response is not None
               and 0 <= check.response < len(step.requests) else (step.requests[-1] if step.requests else None))
    if request is None:
        return None
    if request.status is None:
        return f"{step.action}: {request.method} {request.template} got no answer"
    if request.status in UNAVAILABLE_STATUSES:
        return f"{step.action}: {request.method} {request.template} answered {request.status}"
    return None


class OutageWatch:
    """The run's view of the breaker: is a failure an outage, and waiting one out."""

    def __init__(self, breaker: Breaker | None, *, emit: Callable[[Event], None], run_id: str,
                 deadline: Callable[[], float | None]) -> None:
        self.breaker = breaker
        self.emit = emit
        self.run_id = run_id
        self.deadline = deadline
        self.incidents: list[OutageEnded] = []
        self._recorded = None  # the breaker's incident last recorded: one left open is not recorded twice

    def down_for(self, failure: StepFailure) -> bool:
        """Did ``failure`` come from the target being down? (Probes the target once, if it might.)"""
        if self.breaker is None:
            return False
        if self.breaker.open:
            return True
        reason = unavailable_reason(failure)
        try:
            return reason is not None and self.breaker.unavailable_now(reason)
        except Paused:
            return True  # a pause began: no probe may go, and the journey is discarded like an outage's

    def wait_out(self, *, discarded: int) -> None:
        """Wait until the target answers again (or the run's time is spent); one incident.
        ``discarded``: the exploring journeys the outage cut short (0 for an investigation)."""
        breaker = self.breaker
        if breaker is None or breaker.incident is None or breaker.incident is self._recorded:
            return
        incident = self._recorded = breaker.incident
        self.emit(OutageStarted(run_id=self.run_id, reason=incident.reason, started_at=incident.started_at))
        ended = breaker.wait_out(deadline=self.deadline)
        resolved = ended is not None and ended.ended_at is not None
        if not resolved:
            self.emit(Notice(run_id=self.run_id, message="the run's time was spent while the target was down"))
        event = OutageEnded(run_id=self.run_id, reason=incident.reason, started_at=incident.started_at,
                            ended_at=incident.ended_at, probes=incident.probes,
                            journeys_discarded=discarded)
        self.incidents.append(event)
        self.emit(event)
