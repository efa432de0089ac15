"""What a round of Hypothesis search leaves to be said: what it raised, and journeys it cut short.

``RoundNotes`` turns what a round's Hypothesis search raised into the run's course: an engine
error (a subscriber broke, a host is not allowed) stops the run; a journey's failure was already
investigated; a Flaky ending is said once per run; anything else is one notice. It also says once
if a journey ended early because it had drawn most of Hypothesis's per-example budget of choices,
and once per action whose data could not be drawn.
"""

from __future__ import annotations

import hashlib
from typing import Callable

from hypothesis.errors import Flaky

from engine.errors import JourneysError
from engine.events import Event, Notice
from engine.walk.machine import CHOICE_BUDGET, CHOICE_LIMIT, JourneyFailed

__all__ = ["RoundNotes", "file_revision"]


class RoundNotes:
    def __init__(self, *, emit: Callable[[Event], None], run_id: str, max_steps: int) -> None:
        self.emit, self.run_id, self.max_steps = emit, run_id, max_steps
        self.flaky_rounds = 0  # rounds Hypothesis ended because the target answered differently
        self._short_journey_noted = False
        self._rejected: set[str] = set()  # actions whose data could not be drawn, said once each

    def after_round(self, number: int, raised: BaseException) -> None:
        for error in _flatten(raised):
            if isinstance(error, JourneysError):  # a subscriber broke, a host is not allowed: stop
                raise error
            if isinstance(error, JourneyFailed):
                continue  # investigated and reported when the journey ended
            if isinstance(error, Flaky):
                self.flaky_rounds += 1
                if self.flaky_rounds > 1:
                    continue
                message = ("the target answered differently from when Hypothesis walked the same choices "
                           "before (a 503, data another journey left), so Hypothesis ended the round and the "
                           "next round goes on with a new seed (said once per run)")
            else:
                first = str(error).splitlines()[0] if str(error) else ""
                message = f"Hypothesis ended the round with {type(error).__name__}: {first}"
            self.emit(Notice(run_id=self.run_id, message=f"round {number}: {message}"))

    def short_journey(self, runner) -> None:
        """Say once if journeys ended early (Hypothesis's per-example choice budget)."""
        if self._short_journey_noted or runner.ended or not 0 < len(runner.choices) < self.max_steps:
            return
        if _choices_drawn() <= CHOICE_LIMIT:  # it ended for another reason
            return
        self._short_journey_noted = True
        self.emit(Notice(run_id=self.run_id, message=(
            f"journey {runner.journey} stopped after {len(runner.choices)} of --max-steps "
            f"{self.max_steps} steps: a journey takes no step once its draws fill 80% of Hypothesis's "
            f"budget of {CHOICE_BUDGET:,} bytes per example (about 8 a step: from some 750 steps on); lower "
            "--max-steps")))


    def data_rejected(self, action: str) -> None:
        """An action's data strategies rejected three seeds in a row: its step was skipped (said once)."""
        if action in self._rejected:
            return
        self._rejected.add(action)
        self.emit(Notice(run_id=self.run_id, message=(
            f"action {action!r}: its data strategies rejected three draws in a row (a filter or assume() that "
            "seldom passes), so the step was skipped; build the data so that it needs no filter, or loosen "
            "it (said once per action)")))


def _choices_drawn() -> int:
    """How many choices the running Hypothesis example has drawn (0 when that cannot be known)."""
    try:
        from hypothesis.control import current_build_context

        return int(current_build_context().data.length)
    except Exception:  # noqa: BLE001 - outside a test, or another Hypothesis
        return 0


def file_revision(path: str) -> str:
    """The first 12 hex digits of the model file's sha1, or '' if it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return hashlib.sha1(handle.read()).hexdigest()[:12]
    except OSError:
        return ""


def _flatten(raised: BaseException) -> list[BaseException]:
    """What Hypothesis raised, exception groups opened up (a Flaky group stays whole too)."""
    if isinstance(raised, BaseExceptionGroup):
        inner = [error for group in raised.exceptions for error in _flatten(group)]
        if isinstance(raised, Flaky) and not any(isinstance(e, JourneyFailed) for e in inner):
            return [raised, *inner]
        return inner
    return [raised]
