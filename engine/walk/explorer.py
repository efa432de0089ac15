"""Explore a model against a target: rounds of Hypothesis search, shrinking, classification, events.

A run is a sequence of rounds, each one Hypothesis search over journeys with a
seed of its own. A journey that meets a failure already reported (a *known*
one) records the occurrence and goes on, so one known bug does not stall the
exploration. A journey that meets a *new* failure ends it, and the explorer,
between two journeys, investigates it with its own request budget:

1. ``engine.walk.shrink`` slices the journey to the failing step and what it
   depends on, deletes what the failure still does not need, and says whether
   the result is proven minimal;
2. ``engine.walk.polish`` lets Hypothesis simplify the remaining steps' data inside
   their strategies;
3. the minimal path is replayed ``--replays`` times: all conclusive replays
   failing the same way make it deterministic (left-behind, content change or
   regression), any that passed make it intermittent, and none conclusive
   makes it *inconclusive*: it is treated as known for the moment and tried
   again later in the run, and shrunk then if it proves deterministic.

The failure is then reported, and raised into Hypothesis so the example
database keeps it for the next run; Hypothesis's one replay of it is answered
without requests. Shrinking and replays count against ``--duration`` too;
``--journeys`` counts exploring journeys only.
"""

from __future__ import annotations

import hashlib
import random
import socket
import time
import uuid
from typing import Any

import attrs
from hypothesis import HealthCheck, Phase, Verbosity, settings as hypothesis_settings
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.errors import Flaky
from hypothesis.stateful import run_state_machine_as_test

from engine import __version__
from engine.errors import JourneysError
from engine.events import EventBus, FailureFound, Notice, RoundStarted, RunFinished, RunStarted, StepFinished
from engine.walk.hypothesis_control import RoundDatabase, ignore_engine_constants, seeded
from engine.walk.journey import JourneyRunner, ReplayedJourney, StepFailure, Tagger
from engine.failures.left_behind import SessionHistory
from engine.failures.left_behind_experiment import LeftBehindExperiment, reset_target
from engine.walk.machine import JourneyFailed, compile_machine
from engine.model.declare import Model
from engine.walk.polish import polish
from engine.records import Failure, LeftBehind
from engine.redact import redact_text
from engine.walk.replay import Tally, replay_steps, replay_tally
from engine.export.script import build_script
from engine.export.script_walk import Recorder, walk_script
from engine.walk.shrink import Budget, not_minimal_note, shrink
from engine.http.client import RUN_HEADER, Target, TargetClient

__all__ = ["ExploreSettings", "Explorer"]

MAX_ROUNDS = 10_000
EXPORT_WALKS = 3       # walks of a failure's exported form at most, before its file is written
ROUND_SIZE = 200       # journeys per Hypothesis search at most, so a time budget ends promptly
RETRY_AFTER = 25       # exploring journeys before an inconclusive failure is tried again
RETRIES = 2            # times it is tried again before it is reported as inconclusive
CHOICE_BUDGET = 8 * 1024  # Hypothesis ends a stateful example past 80% of these choices


@attrs.frozen
class ExploreSettings:
    journeys: int = 400
    max_steps: int = 25
    seed: int | None = None
    duration_s: float | None = None
    replays: int = 5
    database: str | None = ".journeys/examples"
    shrink_budget: int = 300  # requests one failure may spend on shrinking and simplifying its data
    reset: bool = True        # use the model's @model.reset, if it declares one, to confirm left-behind state
    allowed_hosts: tuple[str, ...] = ()  # besides the target's own host ("host" or "host:port")
    run_header: str = RUN_HEADER          # carries the run id on every request ("" for none)
    user_agent: str | None = None         # default: journeys/<version> (run <id>)
    run_id: str | None = None             # default: a new random one

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.define
class _Held:
    """A failure whose replays were all inconclusive so far."""

    failure: StepFailure
    due: int          # the exploring journey after which it is tried again
    tries: int = 1


class Explorer:
    """Drives the rounds, keeps the counts, investigates failures, emits events."""

    def __init__(self, model: Model, target: Target, bus: EventBus, settings: ExploreSettings) -> None:
        self.model = model
        self.target = target
        self.bus = bus
        self.settings = settings
        self.seed = settings.seed if settings.seed is not None else random.randrange(2**32)
        self.run_id = settings.run_id or uuid.uuid4().hex[:12]
        self.client = TargetClient(target.client, run_id=self.run_id, run_header=settings.run_header,
                                   user_agent=settings.user_agent or default_user_agent(self.run_id),
                                   allowed_hosts=settings.allowed_hosts)
        self.tagger = Tagger(self.run_id)
        self.known: dict[str, Failure] = {}
        self.held: dict[str, _Held] = {}
        self.met: dict[str, StepFailure] = {}  # new failures met by replays, still to investigate
        self.journeys = 0          # every journey walked, whatever the phase
        self.explored = 0          # journeys that count against the budget
        self.steps = 0
        self.started = 0.0
        self.history = SessionHistory()  # engine state: fed directly, never through the bus
        self._database = (DirectoryBasedExampleDatabase(settings.database)
                          if settings.database else None)
        self._raised: ReplayedJourney | None = None  # answers Hypothesis's replay of a raised failure
        self._short_journey_noted = False
        self.flaky_rounds = 0  # rounds Hypothesis ended because the target answered differently

    def emit(self, event) -> None:
        """Engine state first (it must not depend on any sink), then every subscriber."""
        if isinstance(event, StepFinished):
            self.steps += 1
        self.history.handle(event)
        self.bus.emit(event)

    # --- the Session protocol used by the compiled machine ---------------------------------
    def start_journey(self) -> JourneyRunner | ReplayedJourney:
        if self._raised is not None:
            return ReplayedJourney(self._raised.recorded, self._raised.failure)
        if self._budget_spent():
            # Hypothesis cannot be stopped from inside without confusing it: the
            # rest of this round's journeys do nothing, and no round follows.
            return JourneyRunner.inert(self.model)
        self.explored += 1
        self.journeys += 1
        return self._runner(self.journeys, "explore")

    def end_journey(self, runner: JourneyRunner | ReplayedJourney) -> StepFailure | None:
        """The failure to raise into Hypothesis (so its example is kept), if the journey found one."""
        runner.finish()
        if isinstance(runner, ReplayedJourney):
            return runner.failure
        if getattr(runner, "inert_journey", False):
            return None
        self._note_short_journey(runner)
        failure = runner.failure
        if failure is None:
            self._retry_held()
            return None
        self._investigate(failure)
        self._investigate_met()
        self._raised = ReplayedJourney(runner.choices, failure)
        return failure

    def _runner(self, journey: int, phase: str) -> JourneyRunner:
        return JourneyRunner(model=self.model, client=self.client, emit=self.emit, run_id=self.run_id,
                             journey=journey, phase=phase, known=frozenset(self.known) | frozenset(self.held),
                             tagger=self.tagger)

    # --- the run ---------------------------------------------------------------------------
    def _deadline(self) -> float | None:
        duration = self.settings.duration_s
        return None if duration is None else self.started + duration

    def _late(self) -> bool:
        deadline = self._deadline()
        return deadline is not None and time.monotonic() >= deadline

    def _budget_spent(self) -> bool:
        return self.explored >= self.settings.journeys or self._late()

    def _stop_reason(self) -> str:
        if self.explored >= self.settings.journeys:
            return f"journey budget of {self.settings.journeys} spent"
        return "time budget spent"

    def run(self) -> RunFinished:
        self.started = time.monotonic()
        if not ignore_engine_constants():
            self.emit(Notice(run_id=self.run_id, message=(
                "this Hypothesis version cannot be kept from drawing the engine's own constants; a seed's "
                "walk may depend on which modules are loaded (install the versions in constraints.txt)")))
        self.emit(RunStarted(run_id=self.run_id, model=self.model.name, model_file=self.model.file,
                             target=self.target.label, seed=self.seed,
                             settings=self.settings.as_dict(), tool_version=__version__,
                             model_revision=_file_revision(self.model.file), host=socket.gethostname(),
                             edges=tuple((action.name, source, action.target or source)
                                         for action in self.model.actions
                                         for source in action.sources)))
        interrupted = False
        stop_reason = ""
        for round_number in range(1, MAX_ROUNDS + 1):
            if self._budget_spent():
                stop_reason = self._stop_reason()
                break
            try:
                self._round(round_number)
            except KeyboardInterrupt:
                interrupted, stop_reason = True, "interrupted"
                break
        else:
            stop_reason = f"stopped after {MAX_ROUNDS} rounds"
        if not interrupted:
            self._investigate_met()
            for fingerprint in list(self.held):
                self._report_held(fingerprint)
        finished = RunFinished(run_id=self.run_id, journeys=self.explored,
                               shrink_journeys=self.journeys - self.explored,
                               steps=self.steps, duration_s=time.monotonic() - self.started,
                               failures=tuple(self.known.values()), interrupted=interrupted,
                               stop_reason=stop_reason)
        self.emit(finished)
        return finished

    def _round(self, number: int) -> None:
        """One Hypothesis search of at most ``ROUND_SIZE`` journeys."""
        self._raised = None
        ignore_engine_constants()  # engine modules imported since the last round
        self.emit(RoundStarted(run_id=self.run_id, round=number, known=tuple(self.known)))
        machine = compile_machine(self.model, self)

        def journeys():
            return machine()

        database = (RoundDatabase(self._database, f"journeys:{self.model.name}:round{number}")
                    if self._database is not None else None)
        remaining = max(1, min(ROUND_SIZE, self.settings.journeys - self.explored))
        config = hypothesis_settings(
            max_examples=remaining, stateful_step_count=self.settings.max_steps, deadline=None,
            database=database, suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
            report_multiple_bugs=False, print_blob=False,
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
        )
        try:
            run_state_machine_as_test(seeded(journeys, self.seed + number - 1), settings=config)
        except KeyboardInterrupt:
            raise
        except BaseException as raised:  # noqa: BLE001 - every Hypothesis outcome is handled
            self._after_round(number, raised)

    def _after_round(self, number: int, raised: BaseException) -> None:
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

    def _note_short_journey(self, runner: JourneyRunner) -> None:
        """Say once if Hypothesis ended journeys early (its per-example choice budget)."""
        if self._short_journey_noted or runner.ended or not 0 < len(runner.choices) < self.settings.max_steps:
            return
        if _choices_drawn() < 0.8 * CHOICE_BUDGET:  # Hypothesis chose to explore a shorter journey
            return
        self._short_journey_noted = True
        self.emit(Notice(run_id=self.run_id, message=(
            f"journey {runner.journey} stopped after {len(runner.choices)} of --max-steps "
            f"{self.settings.max_steps} steps: Hypothesis ends a journey once it has drawn about "
            f"{int(0.8 * CHOICE_BUDGET):,} choices; lower --max-steps or the size of the data the model draws")))

    # --- a new failure ---------------------------------------------------------------------
    def _replayer(self, phase: str):
        def replay(steps):
            self.journeys += 1
            outcome = replay_steps(steps, model=self.model, client=self.client, emit=self.emit,
                                   run_id=self.run_id, journey=self.journeys, tagger=self.tagger, phase=phase)
            if outcome is not None:
                self._met_on_the_way(outcome)
            return outcome
        return replay

    def _met_on_the_way(self, outcome: StepFailure) -> None:
        """A failure met is a failure reported: one a replay lands on while shrinking another."""
        fingerprint = outcome.fingerprint.id
        if fingerprint not in self.known and fingerprint not in self.held and fingerprint not in self.met:
            self.met[fingerprint] = outcome

    def _investigate_met(self) -> None:
        """Investigate, each with its own budget, the new failures shrinking or replays landed on."""
        while self.met:
            fingerprint, outcome = next(iter(self.met.items()))
            if fingerprint not in self.known and fingerprint not in self.held:
                self.emit(Notice(run_id=self.run_id, message=(
                    f"{outcome.fingerprint}: met while shrinking or replaying another failure; "
                    "investigated in its own right")))
                self._investigate(outcome)
            self.met.pop(fingerprint, None)

    def _sources(self, action: str) -> tuple[str, ...]:
        return self.model.action_named(action).sources

    def _investigate(self, failure: StepFailure, tries: int = 1) -> None:
        fingerprint = failure.fingerprint.id
        self.met.pop(fingerprint, None)
        budget = Budget(self.settings.shrink_budget, self.client, deadline=self._deadline())
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
                             may_go_on=lambda: not self._late())
        if tally.conclusive == 0 and tries <= RETRIES:
            self.held[fingerprint] = _Held(failure=failure, due=self.explored + RETRY_AFTER, tries=tries)
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
        self.journeys += 1
        reset_target(self.model, self.client, self.emit, self.run_id, self.journeys, self.tagger)

    def _left_behind(self, failure: StepFailure, notes: list[str]) -> LeftBehind | None:
        """Left-behind state: suspected from timing, confirmed by experiment where the model can
        reset the target (engine.failures.left_behind_experiment). ``notes`` hears what the experiment showed."""
        fingerprint = failure.fingerprint.id
        suspected = self.history.left_behind(fingerprint, failure.steps)
        if suspected is None:
            return None
        candidates = self.history.candidates(fingerprint, failure.steps)
        suspected = attrs.evolve(suspected, candidates=tuple(j for j, _ in candidates if j != suspected.journey))
        if self.model.resetter is None or not self.settings.reset:
            notes.append("left-behind state is suspected, not confirmed: the model declares no reset "
                         "(@model.reset) for the experiment that would confirm it" if self.model.resetter is None
                         else "left-behind state is suspected, not confirmed: --no-reset")
            return suspected

        def next_journey() -> int:
            self.journeys += 1
            return self.journeys

        experiment = LeftBehindExperiment(
            model=self.model, client=self.client, emit=self.emit, run_id=self.run_id, next_journey=next_journey,
            tagger=self.tagger, budget=Budget(self.settings.shrink_budget, self.client, deadline=self._deadline()))
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
            if self._late():
                break
            if confirmed:  # on a clean target, the setup walk is what brings the failure back
                self._reset_quietly()
            self.journeys += 1
            outcome = walk_script(script, self.client, setup=confirmed,
                                  recorder=Recorder(self.emit, self.run_id, self.journeys))
            if confirmed:
                self._reset_quietly()
            if outcome.verdict == "reproduced":
                return attrs.evolve(failure, export_check="reproduced")
            if outcome.verdict == "not reproduced" and failure.kind != "intermittent":
                break
        if outcome is None:
            return attrs.evolve(failure, export_check="not tried: the run's time was spent")
        return attrs.evolve(failure, export_check=f"{outcome.verdict}: {redact_text(outcome.message)}")

    def _retry_held(self) -> None:
        for fingerprint, held in list(self.held.items()):
            if self.explored >= held.due and not self._late():
                self._investigate(held.failure, tries=held.tries + 1)
        self._investigate_met()

    def _report_held(self, fingerprint: str) -> None:
        held = self.held.pop(fingerprint)
        self._report(self._checked_export(self._classify(held.failure, Tally(), minimal=False, notes=(
            "no replay could walk to the failing step; the path is the journey as first met",))))

    def _report(self, failure: Failure) -> Failure:
        self.known[failure.id] = failure
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


def default_user_agent(run_id: str) -> str:
    return f"journeys/{__version__} (run {run_id})"


def _is_content_change(failure: StepFailure) -> bool:
    """A text check failed on a response that was otherwise fine: the copy changed."""
    check = failure.check
    requests = failure.steps[-1].requests
    status = (requests[check.response].status if check.response is not None
              and 0 <= check.response < len(requests) else None)
    return check.kind == "text" and status is not None and status < 400


def _choices_drawn() -> int:
    """How many choices the running Hypothesis example has drawn (0 when that cannot be known)."""
    try:
        from hypothesis.control import current_build_context

        return int(current_build_context().data.length)
    except Exception:  # noqa: BLE001 - outside a test, or another Hypothesis
        return 0


def _file_revision(path: str) -> str:
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
