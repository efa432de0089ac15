"""Explore a model against a target: rounds of Hypothesis search, replays, events.

A run is a sequence of rounds. Each round is one Hypothesis search over
journeys; it ends when the budget is spent or when Hypothesis has found and
shrunk one or more failures. Failures found in earlier rounds are "known": a
journey that hits one simply ends, so the next round looks for *other* bugs.
Each new failure's minimal path is then replayed a few times: failing only
sometimes makes it intermittent; failing every time makes it a regression,
unless it fails on data an earlier journey left behind (``left_behind``) or a
text check failed on a successful response (a content change). Journeys count
against ``--journeys`` only while exploring, not while Hypothesis shrinks.
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
from hypothesis.errors import FlakyFailure
from hypothesis.stateful import run_state_machine_as_test

from . import __version__
from .events import EventBus, FailureFound, Notice, RoundStarted, RunFinished, RunStarted, StepFinished
from .journey import JourneyRunner, StepFailure, Tagger
from .left_behind import SessionHistory
from .machine import JourneyFailed, compile_machine
from .model import Model
from .records import Failure
from .replay import replay_steps, replay_tally
from .shrink import drop_unneeded_steps, simplify_data
from .transport import Target, TargetClient

__all__ = ["ExploreSettings", "Explorer"]

MAX_ROUNDS = 10_000
PRECHECK_REPLAYS = 2
ROUND_SIZE = 200  # journeys per Hypothesis search at most, so a time budget ends promptly


@attrs.frozen
class ExploreSettings:
    journeys: int = 400
    max_steps: int = 25
    seed: int | None = None
    duration_s: float | None = None
    replays: int = 5
    database: str | None = ".journeys/examples"

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


class Explorer:
    """Drives the rounds, keeps the counts, classifies failures, emits events."""

    def __init__(self, model: Model, target: Target, bus: EventBus, settings: ExploreSettings) -> None:
        self.model = model
        self.target = target
        self.bus = bus
        self.settings = settings
        self.seed = settings.seed if settings.seed is not None else random.randrange(2**32)
        self.run_id = uuid.uuid4().hex[:12]
        self.client = TargetClient(target.client)
        self.tagger = Tagger(self.run_id)
        self.known: dict[str, Failure] = {}
        self.confirmed: set[str] = set()  # fingerprints that reproduced before shrinking
        self.journeys = 0          # every journey walked, whatever the phase
        self.explored = 0          # journeys that count against the budget
        self.round_failed = False
        self.started = 0.0
        self._database = (DirectoryBasedExampleDatabase(settings.database)
                          if settings.database else None)
        self.steps = 0
        self.history = SessionHistory()
        bus.subscribe(self)
        bus.subscribe(self.history)

    def handle(self, event) -> None:
        """The explorer counts steps from its own events, like any subscriber."""
        if isinstance(event, StepFinished):
            self.steps += 1

    # --- the Session protocol used by the compiled machine ---------------------------------
    def start_journey(self) -> JourneyRunner:
        phase = "shrink" if self.round_failed else "explore"
        if phase == "explore":
            if self._budget_spent():
                # Hypothesis cannot be stopped from inside without confusing it: the
                # rest of this round's journeys do nothing, and no round follows.
                return JourneyRunner.inert(self.model)
            self.explored += 1
        self.journeys += 1
        return JourneyRunner(model=self.model, client=self.client, emit=self.bus.emit,
                             run_id=self.run_id, journey=self.journeys, phase=phase,
                             known=frozenset(self.known), tagger=self.tagger)

    def end_journey(self, runner: JourneyRunner) -> StepFailure | None:
        """The failure to hand to Hypothesis for shrinking, if the journey found one.

        The first time a fingerprint shows up, its journey is replayed twice
        first: Hypothesis can only shrink what fails every time, so a failure
        that does not come back (a 503 blip) is reported as intermittent
        straight away, with the path it was seen on, and never shrunk.
        """
        runner.finish()
        failure = runner.failure
        if failure is None:
            return None
        if failure.fingerprint.id not in self.confirmed:
            failed, run = self._replay_tally(failure, PRECHECK_REPLAYS)
            if run == 0 or failed < run:
                self._report(self._classify(failure, hypothesis_flaky=False))
                return None
            self.confirmed.add(failure.fingerprint.id)
        self.round_failed = True
        return failure

    # --- the run ---------------------------------------------------------------------------
    def _budget_spent(self) -> bool:
        if self.explored >= self.settings.journeys:
            return True
        duration = self.settings.duration_s
        return duration is not None and time.monotonic() - self.started >= duration

    def _stop_reason(self) -> str:
        if self.explored >= self.settings.journeys:
            return f"journey budget of {self.settings.journeys} spent"
        return "time budget spent"

    def run(self) -> RunFinished:
        self.started = time.monotonic()
        self.bus.emit(RunStarted(run_id=self.run_id, model=self.model.name, model_file=self.model.file,
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
        finished = RunFinished(run_id=self.run_id, journeys=self.explored,
                               shrink_journeys=self.journeys - self.explored,
                               steps=self.steps, duration_s=time.monotonic() - self.started,
                               failures=tuple(self.known.values()), interrupted=interrupted,
                               stop_reason=stop_reason)
        self.bus.emit(finished)
        return finished

    def _round(self, number: int) -> list[Failure]:
        """One Hypothesis search of at most ``ROUND_SIZE`` journeys; the new failures."""
        self.round_failed = False
        self.bus.emit(RoundStarted(run_id=self.run_id, round=number, known=tuple(self.known)))
        machine = compile_machine(self.model, self)

        def factory():
            return machine()

        factory._hypothesis_internal_use_seed = self.seed + number - 1
        # Each round keeps its examples under its own key. Round N of the next run
        # replays what round N failed on first; in one shared key, round 2 would
        # see round 1's failure pass (it is known by then) and delete it as fixed.
        factory._hypothesis_internal_add_digest = hashlib.sha1(
            f"journeys:{self.model.name}:round{number}".encode()).digest()
        database = self._database
        remaining = max(1, min(ROUND_SIZE, self.settings.journeys - self.explored))
        config = hypothesis_settings(
            max_examples=remaining, stateful_step_count=self.settings.max_steps, deadline=None,
            database=database, suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
            report_multiple_bugs=False, print_blob=False,
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        )
        try:
            run_state_machine_as_test(factory, settings=config)
        except KeyboardInterrupt:
            raise
        except BaseException as raised:  # noqa: BLE001 - every Hypothesis outcome is handled
            found, others = _collect(raised)
            for other in others:
                self.bus.emit(Notice(run_id=self.run_id, message=(
                    f"Hypothesis ended round {number} with {type(other).__name__}: "
                    f"{str(other).splitlines()[0] if str(other) else ''}")))
            return self._classify_all(found)
        return []

    def _classify_all(self, found: list[tuple[StepFailure, bool]]) -> list[Failure]:
        best: dict[str, tuple[StepFailure, bool]] = {}
        for failure, flaky in found:
            current = best.get(failure.fingerprint.id)
            if current is None or len(failure.steps) < len(current[0].steps):
                best[failure.fingerprint.id] = (failure, flaky)
        new = []
        for fingerprint_id, (failure, flaky) in best.items():
            if fingerprint_id in self.known:
                continue
            failure = drop_unneeded_steps(failure, self._replay_once)
            failure = simplify_data(failure, self._replay_once)
            new.append(self._report(self._classify(failure, flaky)))
        return new

    def _replay_once(self, steps) -> StepFailure | None:
        self.journeys += 1
        return replay_steps(steps, model=self.model, client=self.client, emit=self.bus.emit,
                            run_id=self.run_id, journey=self.journeys, tagger=self.tagger)

    def _report(self, failure: Failure) -> Failure:
        self.known[failure.id] = failure
        self.bus.emit(FailureFound(run_id=self.run_id, failure=failure))
        return failure

    def _classify(self, failure: StepFailure, hypothesis_flaky: bool) -> Failure:
        """Replay the path, then name the kind: intermittent, left-behind, content change, regression."""
        failed, run = self._replay_tally(failure, self.settings.replays)
        left_behind = None
        if not run or failed < run:
            kind = "intermittent"
        elif (left_behind := self.history.left_behind(failure.fingerprint.id, failure.steps)) is not None:
            kind = "left-behind"
        elif _is_content_change(failure):
            kind = "content-change"
        else:
            kind = "regression"
        return Failure(fingerprint=failure.fingerprint, kind=kind, message=failure.check.message,
                       steps=failure.steps, replays_failed=failed, replays_run=run,
                       found_in_journey=failure.journey, seed=self.seed, tool_version=__version__,
                       hypothesis_flaky=hypothesis_flaky, left_behind=left_behind)

    def _replay_tally(self, failure: StepFailure, wanted: int) -> tuple[int, int]:
        """Replay ``wanted`` times: (how many failed the same way, how many were conclusive)."""
        failed, run, _ = replay_tally(lambda: self._replay_once(failure.steps), failure.fingerprint.id, wanted)
        return failed, run


def _is_content_change(failure: StepFailure) -> bool:
    """A text check failed on a response that was otherwise fine: the copy changed."""
    check = failure.check
    requests = failure.steps[-1].requests
    status = (requests[check.response].status if check.response is not None
              and 0 <= check.response < len(requests) else None)
    return check.kind == "text" and status is not None and status < 400


def _file_revision(path: str) -> str:
    """The first 12 hex digits of the model file's sha1, or '' if it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return hashlib.sha1(handle.read()).hexdigest()[:12]
    except OSError:
        return ""


def _collect(raised: BaseException, flaky: bool = False
             ) -> tuple[list[tuple[StepFailure, bool]], list[BaseException]]:
    """Split what Hypothesis raised into journey failures and anything else."""
    if isinstance(raised, JourneyFailed):
        return [(raised.failure, flaky)], []
    if isinstance(raised, BaseExceptionGroup):
        is_flaky = flaky or isinstance(raised, FlakyFailure)
        found: list[tuple[StepFailure, bool]] = []
        others: list[BaseException] = []
        for inner in raised.exceptions:
            more_found, more_others = _collect(inner, is_flaky)
            found += more_found
            others += more_others
        if is_flaky and not found:
            others.append(raised)
        return found, others
    return [], [raised]
