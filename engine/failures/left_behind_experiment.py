"""Left-behind state confirmed by experiment, on a target the model can reset.

``engine.failures.left_behind`` suspects, from timing alone, which earlier journey left
the data a failure depends on. Where the model declares ``@model.reset`` (a
staging copy, a local instance, the demo), the engine does not have to guess:

1. reset, then walk the failing path alone. If it still fails, the failure
   needs no left-behind data at all: it is an ordinary failure.
2. for each candidate journey (those that created data between the failing
   action's last pass and its first failure, a failed clean-up first): reset,
   walk that journey whole (its clean-ups too: what is *left behind* is what
   they leave), then the failing path. The first that brings the failure back
   is the culprit journey. A candidate whose own walk failed (an intermittent
   503 on the way) is walked once more: that says nothing about the data.
3. narrow it: the shortest prefix of that journey that still brings the
   failure back, then each step left out if the failure comes back without
   it. The creating step named is the last step that created data and
   without which the failure did not come back (a clean-up that failed
   because of a later step, such as a log-out, keeps that step in the setup).

Every experiment ends with a reset, so no re-created data stays behind, and
all of it spends the failure's request budget like shrinking does.
"""

from __future__ import annotations

from typing import Callable

import attrs

from engine.events import Event
from engine.walk.journey import JourneyRunner, StepFailure, Tagger
from engine.model.declare import Model
from engine.records import LeftBehind, StepRecord
from engine.walk.replay import ReplayMismatch, replay_steps
from engine.walk.shrink import Budget
from engine.http.client import TargetClient

__all__ = ["Finding", "LeftBehindExperiment", "reset_target"]


@attrs.frozen
class Finding:
    """What the experiment showed: ``confirmed``, ``not left-behind`` or ``unconfirmed``."""

    outcome: str
    left_behind: LeftBehind | None
    note: str


def reset_target(model: Model, client: TargetClient, emit: Callable[[Event], None], run_id: str, journey: int,
                 tagger: Tagger) -> StepFailure | None:
    """Run the model's ``@model.reset`` as a journey of its own (phase ``reset``); its failure, if any."""
    runner = JourneyRunner(model=model, client=client, emit=emit, run_id=run_id, journey=journey, phase="reset",
                           known=frozenset(), tagger=tagger)
    try:
        outcome = runner.run(model.actors[0], model.resetter, {})
    finally:
        runner.finish()
    return outcome if isinstance(outcome, StepFailure) else None


class _Stop(Exception):
    """The budget is spent or the reset did not work: no further experiment."""


class LeftBehindExperiment:
    def __init__(self, *, model: Model, client: TargetClient, emit: Callable[[Event], None], run_id: str,
                 next_journey: Callable[[], int], tagger: Tagger, budget: Budget) -> None:
        self.model = model
        self.client = client
        self.emit = emit
        self.run_id = run_id
        self.next_journey = next_journey
        self.tagger = tagger
        self.budget = budget

    def reset(self) -> None:
        """Run the model's reset; ``_Stop`` if it failed."""
        failed = reset_target(self.model, self.client, self.emit, self.run_id, self.next_journey(), self.tagger)
        if failed is not None:
            raise _Stop(f"the model's reset failed ({failed.check.message})")

    def _walk(self, steps: tuple[StepRecord, ...]) -> StepFailure | None:
        return replay_steps(steps, model=self.model, client=self.client, emit=self.emit, run_id=self.run_id,
                            journey=self.next_journey(), tagger=self.tagger, phase="experiment")

    def brings_back(self, setup: tuple[StepRecord, ...], path: tuple[StepRecord, ...], fingerprint: str
                    ) -> bool | None:
        """Reset, walk ``setup`` as a whole journey, then ``path``: does it fail the same way?
        ``None`` when the walk could not tell (the setup failed, or could not be walked)."""
        if self.budget.spent:
            raise _Stop("the shrink budget was spent before the experiment ended")
        self.reset()
        try:
            if setup and self._walk(setup) is not None:
                return None
            outcome = self._walk(path)
        except ReplayMismatch:
            return None
        if outcome is None:
            return False
        return True if outcome.fingerprint.id == fingerprint else None

    def _brings_back_twice(self, setup: tuple[StepRecord, ...], path: tuple[StepRecord, ...], fingerprint: str
                           ) -> bool | None:
        """``brings_back``, tried once more when the walk could not tell: a long candidate journey can
        meet an intermittent failure (a 503) of its own on the way, which says nothing about the data."""
        answer = self.brings_back(setup, path, fingerprint)
        return self.brings_back(setup, path, fingerprint) if answer is None else answer

    def run(self, failure: StepFailure, suspected: LeftBehind,
            candidates: list[tuple[int, tuple[StepRecord, ...]]]) -> Finding:
        fingerprint, path = failure.fingerprint.id, failure.steps
        try:
            try:
                alone = self.brings_back((), path, fingerprint)
                if alone:
                    return Finding("not left-behind", None, "after a reset of the target the failing path alone "
                                   "still fails: it needs no data an earlier journey left behind")
                if alone is None:
                    return Finding("unconfirmed", suspected, "after a reset the failing path could not be walked")
                for journey, steps in candidates:
                    if self._brings_back_twice(steps, path, fingerprint):
                        return Finding("confirmed", self._narrow(journey, steps, path, fingerprint, suspected), "")
                return Finding("unconfirmed", suspected, f"none of the {len(candidates)} candidate journey(s) "
                               "brought the failure back after a reset")
            finally:
                self.reset()  # what the experiment re-created does not stay on the target
        except _Stop as stop:
            return Finding("unconfirmed", suspected, f"the experiment stopped: {stop}")

    def _narrow(self, journey: int, steps: tuple[StepRecord, ...], path: tuple[StepRecord, ...],
                fingerprint: str, suspected: LeftBehind) -> LeftBehind:
        """The smallest part of the culprit journey that brings the failure back, and its creating step.

        First the shortest prefix (a binary search: each longer prefix is assumed to bring it back
        too), then each step left out in turn, data-creating steps first. The creating step named
        is the last one the failure could not come back without.
        """
        def back(trial: tuple[StepRecord, ...]) -> bool | None:
            try:
                return self.brings_back(trial, path, fingerprint)
            except _Stop:
                return None

        creating = [i for i, step in enumerate(steps) if step.created]
        low, high = (creating[0] + 1 if creating else 1), len(steps)  # steps[:high] brings it back
        while low < high:
            middle = (low + high) // 2
            answer = back(steps[:middle])
            if answer is None and self.budget.spent:
                break
            if answer:
                high = middle
            else:
                low = middle + 1
        kept = list(steps[:high])
        needed: list[StepRecord] = []
        for step in sorted(kept[:-1], key=lambda s: not s.created) + kept[-1:]:
            if self.budget.spent:
                break
            trial = tuple(s for s in kept if s is not step)
            answer = back(trial) if trial else False
            if answer:
                kept = list(trial)
            elif answer is False:
                needed.append(step)
        creators = [s for s in kept if s.created]
        proven = [s for s in creators if s in needed]
        culprit = (proven or creators or kept)[-1]
        evidence = (f"after a reset the failing path alone passes; with {len(kept)} step(s) of journey {journey} "
                    f"walked first it fails again")
        if culprit in needed:
            evidence += f", and without step {culprit.index + 1} ({culprit.action}) it passes"
        if not culprit.created:
            evidence += " (no step of it created data the engine could see)"
        return attrs.evolve(suspected, journey=journey, steps=tuple(kept), step=kept.index(culprit),
                            evidence=evidence, confirmed=True)
