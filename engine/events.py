"""Typed events the engine emits while it explores; everything else subscribes.

The explorer never prints, writes files or alerts by itself: it emits these
immutable events to an ``EventBus``, and the terminal view, the reproduction
writer (and later the DuckDB writer and alert sinks) are subscribers. Adding a
sink never touches the walker.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import attrs

from engine.errors import SubscriberError
from engine.records import Failure, StepRecord

__all__ = [
    "Event", "RunStarted", "RoundStarted", "JourneyStarted", "StepFinished", "CleanupRegistered",
    "CleanupWithdrawn", "CleanupFinished",
    "JourneyFinished", "FailureFound", "Notice", "OutageStarted", "OutageEnded", "RateChanged", "RunFinished",
    "ReplayFinished", "FailureRegressed", "Subscriber", "EventBus",
]


def _now() -> float:
    return time.time()


@attrs.frozen(kw_only=True)
class Event:
    run_id: str
    at: float = attrs.field(factory=_now)


@attrs.frozen(kw_only=True)
class RunStarted(Event):
    model: str
    model_file: str
    target: str
    seed: int
    settings: dict[str, Any]
    tool_version: str
    model_revision: str = ""  # sha1 of the model file, so a trend can be cut at a model change
    host: str = ""
    edges: tuple[tuple[str, str, str], ...] = ()  # (action, source, target) of every model edge


@attrs.frozen(kw_only=True)
class RoundStarted(Event):
    """A new Hypothesis search began; ``known`` failures no longer end it."""

    round: int
    known: tuple[str, ...]


@attrs.frozen(kw_only=True)
class JourneyStarted(Event):
    journey: int
    phase: str  # "explore", "shrink" (after a failure in this round) or "replay"


@attrs.frozen(kw_only=True)
class StepFinished(Event):
    journey: int
    phase: str
    step: StepRecord


@attrs.frozen(kw_only=True)
class CleanupRegistered(Event):
    """A step created something and said what removes it: the clean-up ledger keeps it at once.

    ``crash_only``: the model's teardown removes it when the journey ends (``step.created``);
    only ``journeys cleanup`` sends it, for a run that died first. ``auth`` says how the actor
    was signed in (the scheme, never the credential).
    """

    journey: int
    phase: str
    ledger_id: str
    actor: str
    step: int
    action: str
    method: str
    template: str
    path_vars: dict[str, Any]
    path: str
    auth: dict[str, Any] | None
    crash_only: bool = False


@attrs.frozen(kw_only=True)
class CleanupWithdrawn(Event):
    """A registered clean-up is no longer needed (withdrawn, or the teardown that removes it ran)."""

    journey: int
    ledger_id: str
    reason: str


@attrs.frozen(kw_only=True)
class CleanupFinished(Event):
    journey: int
    actor: str
    method: str
    path: str
    status: int | None
    ok: bool
    created_by_step: int | None = None  # the journey step that registered it; None for a teardown
    created_by_action: str | None = None
    ledger_id: str | None = None  # the clean-up ledger's entry it settles (None for a teardown's request)
    requests: int = 1  # 2 when the target refused it (401/403) and it was sent again as the actor is now


@attrs.frozen(kw_only=True)
class JourneyFinished(Event):
    journey: int
    phase: str
    steps: int
    outcome: str  # "passed", "failed", "known" (hit an already reported failure), "discarded" (an outage)
    duration_ms: float
    fingerprint: str | None = None  # the failure's fingerprint id when failed or known
    round: int = 0  # the exploring round (0: a journey that shrinks or replays)
    must_walk: str | None = None  # the golden path it walked, if it was one


@attrs.frozen(kw_only=True)
class FailureFound(Event):
    failure: Failure


@attrs.frozen(kw_only=True)
class Notice(Event):
    """Something a person watching should know that is not a failure."""

    message: str


@attrs.frozen(kw_only=True)
class OutageStarted(Event):
    """The target stopped answering and a probe confirmed it: the walk waits, nothing is a finding."""

    reason: str
    started_at: float


@attrs.frozen(kw_only=True)
class OutageEnded(Event):
    """A probe saw the target answer again (``ended_at``), or the run ended first (None)."""

    reason: str
    started_at: float
    ended_at: float | None
    probes: int
    journeys_discarded: int

    @property
    def duration_s(self) -> float:
        return (self.ended_at or self.at) - self.started_at


@attrs.frozen(kw_only=True)
class RateChanged(Event):
    """A window of the schedule began or ended: the cap now, or a pause (``engine.http.schedule``)."""

    description: str   # "cap 2/s (mon-fri 08:00-20:00 2/s)", "paused (...) until 04:00:00", "no cap"
    paused: bool


@attrs.frozen(kw_only=True)
class RunFinished(Event):
    journeys: int
    shrink_journeys: int
    steps: int
    duration_s: float
    failures: tuple[Failure, ...]
    interrupted: bool
    stop_reason: str
    outages: tuple[OutageEnded, ...] = ()  # availability incidents: never failures
    known_met: tuple[str, ...] = ()  # failures from the store (continuous runs) this run met again
    regressed: tuple[str, ...] = ()  # of those, the ones the store had as fixed (or a re-check found fixed)
    coverage: Any = None  # engine.walk.coverage.CoverageSummary: where the exploring journeys went

    @property
    def exit_code(self) -> int:
        return 1 if self.failures or self.known_met else 0


@attrs.frozen(kw_only=True)
class ReplayFinished(Event):
    """A stored failure's path was replayed (``journeys replay``, or a continuous run's re-check)."""

    fingerprint: str
    target: str
    times: int
    replays_run: int  # conclusive replays (ran through, failed the same way or passed)
    replays_failed: int
    verdict: str  # "still failing", "fixed", "flaky" or "inconclusive"
    notes: tuple[str, ...] = ()
    setup: bool = False  # left-behind state: the creating journey was walked first


@attrs.frozen(kw_only=True)
class FailureRegressed(Event):
    """A failure known to be fixed fails again: met by an exploring journey, or by a re-check."""

    fingerprint: str
    summary: str  # "action: check"
    how: str      # "met while exploring" or "re-check: still failing (3 of 3 replays failed)"


class Subscriber(Protocol):
    def handle(self, event: Event) -> None: ...


class EventBus:
    """Delivers every event to every subscriber, in subscription order."""

    def __init__(self, subscribers: list[Subscriber] | None = None) -> None:
        self.subscribers: list[Subscriber] = list(subscribers or [])

    def subscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.append(subscriber)

    def emit(self, event: Event) -> None:
        """Deliver ``event``; a subscriber that raises stops the run (``SubscriberError``).

        A broken store writer or report must never look like a clean run.
        """
        for subscriber in self.subscribers:
            try:
                subscriber.handle(event)
            except SubscriberError:
                raise
            except Exception as error:
                raise SubscriberError(
                    f"{type(subscriber).__name__} failed on {type(event).__name__}: "
                    f"{type(error).__name__}: {error}") from error

    def close(self) -> None:
        """Close every subscriber; the first that fails is raised as a ``SubscriberError`` at the end."""
        failed: SubscriberError | None = None
        for subscriber in self.subscribers:
            close = getattr(subscriber, "close", None)
            if close is None:
                continue
            try:
                close()
            except Exception as error:
                failed = failed or SubscriberError(
                    f"{type(subscriber).__name__} failed to close: {type(error).__name__}: {error}")
        if failed is not None:
            raise failed
