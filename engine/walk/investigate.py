"""A new failure, investigated between two journeys: shrunk, polished, replayed, classified, checked.

``Investigator.investigate`` spends the failure's ``--shrink-budget``:
``engine.walk.shrink`` slices the journey, ``engine.walk.polish`` simplifies
what is left, the path is replayed ``--replays`` times and the kind named
(inconclusive, intermittent, left-behind, content change, regression), and the
exported form is walked once before a file is written. A failure no replay
could walk to is *held*: known for the moment, tried again after
``RETRY_AFTER`` exploring journeys. A new failure a replay lands on is
investigated in its own right. The investigator owns the run's failures
(``known``, ``held``); the explorer asks it which failures journeys should
step past.
"""

from __future__ import annotations

from typing import Any, Callable

import attrs

from engine import __version__
from engine.events import Event, FailureFound, Notice
from engine.export.script import build_script
from engine.export.script_walk import Recorder, walk_script
from engine.failures.earlier_runs import EarlierRuns
from engine.failures.left_behind import SessionHistory
from engine.failures.left_behind_experiment import LeftBehindExperiment, reset_target
from engine.http.client import TargetClient
from engine.model.declare import Model
from engine.records import Failure, LeftBehind
from engine.redact import redact_text
from engine.http.breaker import TargetDown
from engine.http.rate import Paused
from engine.walk.claims import Claims
from engine.walk.journey import StepFailure, Tagger
from engine.walk.outage import OutageWatch, unavailable_reason
from engine.walk.polish import polish
from engine.walk.replay import Tally, replay_steps, replay_tally
from engine.walk.shrink import Budget, not_minimal_note, shrink

__all__ = ["Investigator", "EXPORT_WALKS", "RETRY_AFTER", "RETRIES"]

EXPORT_WALKS = 3       # walks of a failure's exported form at most, before its file is written
RETRY_AFTER = 25       # exploring journeys before an inconclusive failure is tried again
RETRIES = 2            # times it is tried again before it is reported as inconclusive


@attrs.define
class _Held:
    """A failure whose replays were all inconclusive so far."""

    failure: StepFailure
    due: int          # the exploring journey after which it is tried again
    tries: int = 1


class Investigator:
    """Investigates each new failure within its budget and reports it; keeps the run's failures."""

    def __init__(self, *, model: Model, client: TargetClient, emit: Callable[[Event], None], run_id: str,
                 tagger: Tagger, seed: int, settings: Any, history: SessionHistory,
                 next_journey: Callable[[], int], explored: Callable[[], int],
                 deadline: Callable[[], float | None], late: Callable[[], bool], outages: OutageWatch,
                 claims: Claims | None = None, earlier: EarlierRuns | None = None) -> None:
        self.model = model
        self.client = client
        self.emit = emit
        self.run_id = run_id
        self.tagger = tagger
        self.seed = seed
        self.settings = settings  # ExploreSettings: shrink_budget, replays, reset
        self.history = history
        self.earlier = earlier  # what earlier runs on the store left on the target (their clean-up ledger)
        self.next_journey = next_journey  # a new journey number, for every replay and walk
        self.explored = explored          # exploring journeys so far
        self.deadline = deadline
        self.late = late
        self.outages = outages
        self.known: dict[str, Failure] = {}
        self.carried: set[str] = set()  # known before the run (from the store): never investigated again
        self.held: dict[str, _Held] = {}
        self.met: dict[str, StepFailure] = {}  # new failures met by replays, still to investigate
        self.claims = claims  # --workers: a failure is investigated by the worker that claims it first
        self.elsewhere: set[str] = set()  # claimed by another worker: known here from then on

    def _replayer(self, phase: str):
        def replay(steps):
            journey = self.next_journey()
            outcome = replay_steps(steps, model=self.model, client=self.client, emit=self.emit,
                                   run_id=self.run_id, journey=journey, tagger=self.tagger, phase=phase)
            if outcome is not None:
                if self.outages.down_for(outcome):
                    raise TargetDown("the target went down during a replay")
                self.met_on_the_way(outcome)
            return outcome
        return replay

    def carry(self, failures) -> None:
        """Failures reported by earlier runs: journeys step past them, as past this run's own."""
        for failure in failures:
            self.known.setdefault(failure.id, failure)
            self.carried.add(failure.id)

    def met_on_the_way(self, outcome: StepFailure) -> None:
        """A failure met is a failure reported: one a replay lands on while shrinking another."""
        fingerprint = outcome.fingerprint.id
        if fingerprint not in self.known and fingerprint not in self.held and fingerprint not in self.met \
                and fingerprint not in self.elsewhere:
            self.met[fingerprint] = outcome

    def investigate_met(self) -> None:
        """Investigate, each with its own budget, the new failures shrinking or replays landed on."""
        while self.met:
            fingerprint, outcome = next(iter(self.met.items()))
            if fingerprint not in self.known and fingerprint not in self.held:
                self.emit(Notice(run_id=self.run_id, message=(
                    f"{outcome.fingerprint}: met while shrinking or replaying another failure; "
                    "investigated in its own right")))
                self.investigate(outcome)
            self.met.pop(fingerprint, None)

    def _sources(self, action: str) -> tuple[str, ...]:
        return self.model.action_named(action).sources

    def investigate(self, failure: StepFailure, tries: int = 1) -> None:
        """Shrink, replay, classify and report ``failure``; an outage on the way postpones it."""
        if self._claimed_elsewhere(failure):
            return
        try:
            self._investigate(failure, tries)
        except TargetDown as stopped:
            self.outages.wait_out(discarded=0)  # (a pause window is waited out before the next journey)
            # What the outage made fail is no finding; the failure itself is tried again soon.
            self.met = {key: met for key, met in self.met.items() if unavailable_reason(met) is None}
            self.held[failure.fingerprint.id] = _Held(failure=failure, due=self.explored() + 1, tries=tries - 1)
            why = ("a pause window of the schedule began" if isinstance(stopped, Paused)
                   else "the target went down")
            self.emit(Notice(run_id=self.run_id, message=(
                f"{failure.fingerprint}: {why} while this failure was investigated; "
                "it is investigated again after the next journey")))

    def _claimed_elsewhere(self, failure: StepFailure) -> bool:
        fingerprint = failure.fingerprint.id
        if self.claims is None or self.claims.claim(fingerprint):
            return False
        self.met.pop(fingerprint, None)
        if fingerprint not in self.elsewhere:
            self.elsewhere.add(fingerprint)
            self.emit(Notice(run_id=self.run_id, message=(
                f"{failure.fingerprint}: another worker is investigating it; journeys here that meet it record "
                "an occurrence and go on")))
        return True

    def _investigate(self, failure: StepFailure, tries: int) -> None:
        fingerprint = failure.fingerprint.id
        self.met.pop(fingerprint, None)
        budget = Budget(self.settings.shrink_budget, self.client, deadline=self.deadline())
        sources = self._sources
        shrunk = shrink(failure, self._replayer("shrink"), budget, start=self.model.start, sources=sources,
                        actors=self.model.actors)
        best, notes = shrunk.failure, list(shrunk.notes)
        minimal = shrunk.minimal
        if shrunk.reproduced:
            best, simplified, complete = polish(best, model=self.model, replay=self._replayer("shrink"),
                                                budget=budget, seed=self.seed, start=self.model.start,
                                                sources=sources)
            minimal = minimal and complete
            if not simplified:
                notes.append("data as drawn when found (no simpler data failed the same way within the budget)")
            if shrunk.minimal and not complete:
                notes.append(not_minimal_note(budget))
        replay = self._replayer("replay")
        tally = replay_tally(lambda: replay(best.steps), fingerprint, self.settings.replays,
                             may_go_on=lambda: not self.late())
        if tally.conclusive == 0 and tries <= RETRIES:
            self.held[fingerprint] = _Held(failure=failure, due=self.explored() + RETRY_AFTER, tries=tries)
            self.emit(Notice(run_id=self.run_id, message=(
                f"{failure.fingerprint}: no replay could walk to the failing step ({tally.describe()}); "
                f"it counts as known for now and is tried again after {RETRY_AFTER} more journeys")))
            return
        self.held.pop(fingerprint, None)
        for step in best.steps[:-1]:
            if step.outcome == "known" and step.fingerprint in self.known:
                notes.append(f"its path goes through a failure already reported ({self.known[step.fingerprint].id} "
                             f"at step {step.index + 1}, {step.action}): probably a consequence of that one, and "
                             "its checks may hold values only that bug produces")
                break
        self._report(self._checked_export(self._classify(best, tally, minimal=minimal,
                                                         notes=(*notes, *tally.notes), found_in=failure.journey)))

    def _reset_quietly(self) -> None:
        """Reset around the check of a confirmed left-behind failure; a failed reset shows in the
        walk that follows (it cannot reproduce on a target that was not reset)."""
        reset_target(self.model, self.client, self.emit, self.run_id, self.next_journey(), self.tagger)

    def _left_behind(self, failure: StepFailure, notes: list[str]) -> LeftBehind | None:
        """Left-behind state: suspected from timing, confirmed by experiment where the model can
        reset the target (engine.failures.left_behind_experiment). ``notes`` hears what the experiment showed."""
        fingerprint = failure.fingerprint.id
        suspected = self.history.left_behind(fingerprint, failure.steps)
        if suspected is None and self.earlier is not None and self.history.failed_before_passing(fingerprint):
            suspected = self.earlier.left_behind(fingerprint, failure.steps)
            if suspected is not None:
                notes.append("left-behind state is suspected from the store: an earlier run created data after "
                             "the failing action last passed and met this failure since; not confirmed (an "
                             "earlier run's journeys are not kept to re-create it)")
            return suspected
        if suspected is None:
            return None
        candidates = self.history.candidates(fingerprint, failure.steps)
        suspected = attrs.evolve(suspected, candidates=tuple(j for j, _ in candidates if j != suspected.journey))
        if self.model.resetter is None or not self.settings.reset:
            notes.append("left-behind state is suspected, not confirmed: the model declares no reset "
                         "(@model.reset) for the experiment that would confirm it" if self.model.resetter is None
                         else "left-behind state is suspected, not confirmed: --no-reset")
            return suspected

        experiment = LeftBehindExperiment(
            model=self.model, client=self.client, emit=self.emit, run_id=self.run_id, next_journey=self.next_journey,
            tagger=self.tagger, budget=Budget(self.settings.shrink_budget, self.client, deadline=self.deadline()))
        found = experiment.run(failure, suspected, candidates)
        if found.note:
            notes.append(found.note)
        return found.left_behind

    def _checked_export(self, failure: Failure) -> Failure:
        """Walk the exported form of ``failure`` (what replay, pytest and curl all walk) before a file
        is written: only a form that fails at the marked step is handed over as a reproduction.

        A walk that could not reach the failing step (an intermittent blip on the way) says nothing
        and is tried again, up to three walks; so is an intermittent failure that passed. A
        confirmed left-behind failure is walked as its file is, setup first, between two resets of
        the target (which the model declared). A suspected one gets no file: its setup cannot
        be shown to bring the failure back without a reset.
        """
        if failure.kind == "inconclusive":
            return attrs.evolve(failure, export_check="not tried: no replay could walk to the failing step")
        if failure.kind == "suspected-left-behind":
            return attrs.evolve(failure, export_check=(
                "not tried: its setup (the data suspected left behind) can only be shown to bring the failure "
                "back on a target the model may reset; `journeys export` writes it as suspected"))
        script = build_script(failure)
        confirmed = failure.left_behind is not None and failure.left_behind.confirmed
        outcome = None
        for _ in range(EXPORT_WALKS):
            if self.late():
                break
            if confirmed:  # on a clean target, the setup walk is what brings the failure back
                self._reset_quietly()
            journey = self.next_journey()
            outcome = walk_script(script, self.client, setup=confirmed,
                                  recorder=Recorder(self.emit, self.run_id, journey))
            if confirmed:
                self._reset_quietly()
            if outcome.verdict == "reproduced":
                return attrs.evolve(failure, export_check="reproduced")
            if outcome.verdict == "not reproduced" and failure.kind != "intermittent":
                break
        if outcome is None:
            return attrs.evolve(failure, export_check="not tried: the run's time was spent")
        return attrs.evolve(failure, export_check=f"{outcome.verdict}: {redact_text(outcome.message)}")

    def retry_held(self) -> None:
        for fingerprint, held in list(self.held.items()):
            if self.explored() >= held.due and not self.late():
                self.investigate(held.failure, tries=held.tries + 1)
        self.investigate_met()

    def report_held(self, fingerprint: str) -> None:
        held = self.held.pop(fingerprint)
        failure = self._classify(held.failure, Tally(), minimal=False, notes=(
            "no replay could walk to the failing step; the path is the journey as first met",))
        try:
            failure = self._checked_export(failure)
        except TargetDown:
            failure = attrs.evolve(failure, export_check="not tried: the target was down")
        self._report(failure)

    def _report(self, failure: Failure) -> Failure:
        self.known[failure.id] = failure
        if self.claims is not None:
            self.claims.done(failure.id)  # no other worker takes it over once this one has exited
        self.emit(FailureFound(run_id=self.run_id, failure=failure))
        return failure

    def _classify(self, failure: StepFailure, tally: Tally, *, minimal: bool, notes,
                  found_in: int | None = None) -> Failure:
        """Name the kind: inconclusive, intermittent, (suspected) left-behind, content change, regression."""
        left_behind = None
        notes = list(notes)
        if tally.conclusive == 0:
            kind = "inconclusive"
        elif tally.passed:
            kind = "intermittent"
        elif (left_behind := self._left_behind(failure, notes)) is not None:
            kind = "left-behind" if left_behind.confirmed else "suspected-left-behind"
        elif _is_content_change(failure):
            kind = "content-change"
        else:
            kind = "regression"
        return Failure(fingerprint=failure.fingerprint, kind=kind, message=failure.check.message,
                       steps=failure.steps, replays_failed=tally.failed, replays_run=tally.conclusive,
                       replays_inconclusive=tally.inconclusive,
                       found_in_journey=failure.journey if found_in is None else found_in,
                       seed=self.seed, tool_version=__version__, left_behind=left_behind,
                       minimal=minimal, notes=tuple(dict.fromkeys(notes)))


def _is_content_change(failure: StepFailure) -> bool:
    """A text check failed on a response that was otherwise fine: the copy changed."""
    check = failure.check
    requests = failure.steps[-1].requests
    status = (requests[check.response].status if check.response is not None
              and 0 <= check.response < len(requests) else None)
    return check.kind == "text" and status is not None and status < 400
