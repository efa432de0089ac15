"""Replay a recorded journey step by step, without Hypothesis.

Used to decide a failure's kind (does its minimal path fail every time?) and,
later, to re-check a stored failure against another target. Drawn data is
reused as recorded; resources are re-produced by the replayed steps, and test
data gets fresh tags, so a replay never collides with the original journey.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from .events import Event
from .journey import JourneyRunner, Resource, StepFailure, Tagger
from .model import Model
from .records import StepRecord
from .transport import TargetClient

__all__ = ["ReplayMismatch", "replay_steps", "replay_tally"]


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
                 tagger: Tagger, then: Callable[[], StepFailure | None] | None = None) -> StepFailure | None:
    """Run ``steps`` again; the first failure, or ``None`` if every step passed.

    ``then``, if given, runs after the steps passed and before their clean-ups:
    what it returns is the result. That is how a journey that left data behind
    is replayed as the setup of the failure that depends on the data.
    """
    runner = JourneyRunner(model=model, client=client, emit=emit, run_id=run_id, journey=journey,
                           phase="replay", known=frozenset(), tagger=tagger)
    produced: dict[int, Resource] = {}
    try:
        for record in steps:
            try:
                action = model.action_named(record.action)
            except KeyError:
                raise ReplayMismatch(f"the model has no action {record.action!r}") from None
            if not runner.enabled(record.actor, action):
                raise ReplayMismatch(f"step {record.index} ({record.actor} {record.action}) cannot run "
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


def replay_tally(replay_once: Callable[[], StepFailure | None], fingerprint_id: str,
                 wanted: int) -> tuple[int, int, list[str]]:
    """Replay ``wanted`` times: (failed the same way, conclusive replays, why others were not).

    A replay that cannot run (``ReplayMismatch``) or fails on another fingerprint
    is inconclusive and tried again, up to three times ``wanted`` attempts.
    """
    failed = run = attempts = 0
    notes: list[str] = []
    while run < wanted and attempts < wanted * 3:
        attempts += 1
        try:
            outcome = replay_once()
        except ReplayMismatch as mismatch:
            notes.append(str(mismatch))
            continue
        if outcome is not None and outcome.fingerprint.id != fingerprint_id:
            notes.append(f"failed on {outcome.fingerprint} instead")
            continue
        run += 1
        failed += outcome is not None
    return failed, run, notes
