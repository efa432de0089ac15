"""Replay a recorded journey step by step, without Hypothesis.

Used while shrinking, to decide a failure's kind (does its minimal path fail
every time?) and to re-check a stored failure against another target. Drawn
data is reused as recorded; resources are re-produced by the replayed steps,
and test data gets fresh tags, so a replay never collides with the original
journey. A step that met a known failure when it was recorded may meet it
again without ending the replay, as it did not end the journey.

One vocabulary for what a replay shows: it *failed* the same way (same
fingerprint), it *passed* (walked to the failing step, and that step passed),
or it was *inconclusive* (it could not walk to the failing step: a step did
not produce what a later one needs, or something else failed on the way).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import attrs

from engine.events import Event
from engine.walk.journey import JourneyRunner, Resource, StepFailure, Tagger
from engine.model.declare import Model
from engine.records import StepRecord
from engine.http.client import TargetClient

__all__ = ["ReplayMismatch", "Tally", "replay_steps", "replay_tally"]


class ReplayMismatch(Exception):
    """The recorded path cannot be replayed against this model."""


def _resolve(value: Any, produced: dict[int, Resource]) -> Any:
    if isinstance(value, dict) and "$resource" in value:
        resource = produced.get(value.get("step"))
        if resource is None:
            raise ReplayMismatch(f"step {value.get('step')} did not produce a {value['$resource']} this time")
        return resource
    return value


def replay_steps(steps: Sequence[StepRecord], *, model: Model, client: TargetClient,
                 emit: Callable[[Event], None], run_id: str, journey: int,
                 tagger: Tagger, then: Callable[[], StepFailure | None] | None = None,
                 phase: str = "replay") -> StepFailure | None:
    """Run ``steps`` again; the first failure, or ``None`` if every step passed.

    ``then``, if given, runs after the steps passed and before their clean-ups:
    what it returns is the result. That is how a journey that left data behind
    is replayed as the setup of the failure that depends on the data.
    """
    known = frozenset(step.fingerprint for step in steps if step.outcome == "known" and step.fingerprint)
    runner = JourneyRunner(model=model, client=client, emit=emit, run_id=run_id, journey=journey,
                           phase=phase, known=known, tagger=tagger)
    produced: dict[int, Resource] = {}
    try:
        for record in steps:
            try:
                action = model.action_named(record.action)
            except KeyError:
                raise ReplayMismatch(f"the model has no action {record.action!r}") from None
            if not runner.enabled(record.actor, action):
                raise ReplayMismatch(f"step {record.index + 1} ({record.actor} {record.action}) cannot run "
                                     f"from state {runner.states[record.actor]!r} this time")
            data = {key: _resolve(value, produced) for key, value in record.data.items()}
            outcome = runner.run(record.actor, action, data)
            if isinstance(outcome, StepFailure):
                return outcome
            if isinstance(outcome, Resource):
                produced[record.index] = outcome
        return then() if then is not None else None
    finally:
        runner.finish()


@attrs.frozen
class Tally:
    """What ``n`` replays of a failure's path showed."""

    failed: int = 0        # failed the same way
    passed: int = 0        # walked to the failing step, which passed
    inconclusive: int = 0  # could not walk to the failing step
    notes: tuple[str, ...] = ()

    @property
    def conclusive(self) -> int:
        return self.failed + self.passed

    def describe(self) -> str:
        return f"failed {self.failed} of {self.conclusive} conclusive replays ({self.inconclusive} inconclusive)"


def replay_tally(replay_once: Callable[[], StepFailure | None], fingerprint_id: str, wanted: int, *,
                 extra_attempts: int = 2, may_go_on: Callable[[], bool] = lambda: True) -> Tally:
    """Replay until ``wanted`` replays were conclusive, with ``extra_attempts`` more tries at most.

    A replay that cannot run (``ReplayMismatch``) or fails on another fingerprint
    is inconclusive: it says nothing about the failing step. ``may_go_on`` is
    asked before each replay (a spent time or request budget says no).
    """
    failed = passed = inconclusive = 0
    notes: list[str] = []
    while failed + passed < wanted and failed + passed + inconclusive < wanted + extra_attempts \
            and may_go_on():
        try:
            outcome = replay_once()
        except ReplayMismatch as mismatch:
            inconclusive += 1
            notes.append(str(mismatch))
            continue
        if outcome is not None and outcome.fingerprint.id != fingerprint_id:
            inconclusive += 1
            notes.append(f"failed on {outcome.fingerprint} instead")
            continue
        if outcome is None:
            passed += 1
        else:
            failed += 1
    return Tally(failed=failed, passed=passed, inconclusive=inconclusive, notes=tuple(dict.fromkeys(notes)))
