"""Explore a model against a target: rounds of Hypothesis search, shrinking, classification, events.

A run is a sequence of rounds, each one Hypothesis search over journeys with a
seed of its own. A journey that meets a failure already reported (a *known*
one) records the occurrence and goes on, so one known bug does not stall the
exploration. A journey that meets a *new* failure ends it, and the explorer,
between two journeys, has ``engine.walk.investigate`` investigate it with its
own request budget:

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

Each round begins with the model's golden paths (``engine.walk.must_walk``).
Every exploring step is chosen by ``engine.walk.coverage`` (by weight, or steered
toward edges never taken), which also counts where the journeys went; a run ends
early once one of its ``--until`` conditions is met.
"""

from __future__ import annotations

import itertools
import random
import socket
import time
import uuid
from typing import Any, Callable, Iterable

import attrs
from hypothesis import HealthCheck, Phase, Verbosity, settings as hypothesis_settings, target as hypothesis_target

from engine import __version__
from engine.events import EventBus, Notice, RateChanged, RoundStarted, RunFinished, RunStarted, StepFinished
from engine.walk.hypothesis_control import RoundDatabase, example_database, ignore_engine_constants, round_seed
from engine.walk.claims import Claims
from engine.walk.investigate import Investigator
from engine.walk.journey import JourneyRunner, ReplayedJourney, StepFailure, Tagger
from engine.walk.known_refresh import REFRESH_EVERY_S, KnownRefresh
from engine.failures.earlier_runs import EarlierRuns
from engine.failures.left_behind import SessionHistory
from engine.walk.heap import release_freed_memory
from engine.walk.coverage import Coverage, parse_until
from engine.walk.machine import CompiledWalk
from engine.walk.must_walk import MustWalks
from engine.walk.rounds import RoundNotes, file_revision
from engine.model.declare import Model
from engine.records import Failure
from engine.redact import FieldMasks
from engine.http.client import RUN_HEADER, Target, TargetClient
from engine.http.breaker import BreakerSettings
from engine.http.credentials import Credentials
from engine.http.rate import RateCap
from engine.http.schedule import rate_cap_for
from engine.walk.outage import OutageWatch
from engine.walk.recheck import Rechecks

__all__ = ["ExploreSettings", "Explorer"]

MAX_ROUNDS = 10_000
ROUND_SIZE = 200       # journeys per Hypothesis search at most, so a time budget ends promptly


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
    breaker: BreakerSettings | None = BreakerSettings()  # None: no breaker (every outage is a finding)
    allowed_hosts: tuple[str, ...] = ()  # besides the target's own host ("host" or "host:port")
    run_header: str = RUN_HEADER          # carries the run id on every request ("" for none)
    user_agent: str | None = None         # default: journeys/<version> (run <id>)
    run_id: str | None = None             # default: a new random one
    rate: str | None = None               # the cap on every request, e.g. "5/s" (None: as fast as it answers)
    schedule: tuple[str, ...] = ()        # windows: "mon-fri 08:00-20:00 2/s", "sat 02:00-04:00 pause"
    timezone: str = "UTC"                 # the schedule's
    mask_fields: tuple[str, ...] = ()     # response fields masked in every record: names, or dotted paths
    mask_contacts: bool = True            # mask emails and phone numbers that are not journeys' own
    forever: bool = False                 # continuous: rounds until stopped (or --duration); no journey budget
    recheck_every_s: float | None = 3600.0  # continuous: re-check the store's failures at start and this often
    recheck_times: int = 3                # replays of each failure in one re-check
    known_refresh_s: float | None = REFRESH_EVERY_S  # continuous: read other runs' failures this often
    strategy: str = "random"              # or "coverage": steer toward edges and edge pairs never taken
    until: tuple[str, ...] = ()           # stop conditions: "edge-coverage=100%", "failures=3" (any met stops)
    worker: str | None = None             # --workers: "I/N" of the run group ``group``
    group: str | None = None
    credentials: tuple[str, ...] = ()     # "alice.password=VARIABLE": where step.credential reads, never a value

    def as_dict(self) -> dict[str, Any]:
        settings = attrs.asdict(self)
        if settings["database"] and "@" in settings["database"]:  # redis://:password@host: never stored
            scheme, _, rest = settings["database"].partition("://")
            settings["database"] = f"{scheme}://***@{rest.rpartition('@')[2]}"
        return settings


class Explorer:
    """Drives the rounds, keeps the counts, investigates failures, emits events."""

    def __init__(self, model: Model, target: Target, bus: EventBus, settings: ExploreSettings, *,
                 rate_cap: RateCap | None = None, known: tuple[Failure, ...] = (),
                 fixed: frozenset[str] = frozenset(),
                 stored_failures: Callable[[], Iterable[Failure]] | None = None, claims: Claims | None = None,
                 stored_token: Callable[[], object] | None = None, earlier: EarlierRuns | None = None) -> None:
        self.model = model
        self.target = target
        self.bus = bus
        self.settings = settings
        self.seed = settings.seed if settings.seed is not None else random.randrange(2**32)
        self.run_id = settings.run_id or uuid.uuid4().hex[:12]
        if rate_cap is None:
            rate_cap = rate_cap_for(settings.rate, settings.schedule, settings.timezone)
        if rate_cap is not None:
            rate_cap.on_change = lambda slot: self.emit(RateChanged(run_id=self.run_id, description=slot.describe(),
                                                                    paused=slot.paused))
        self.rate_cap = rate_cap
        self.client = TargetClient(target.client, run_id=self.run_id, run_header=settings.run_header,
                                   user_agent=settings.user_agent or default_user_agent(self.run_id),
                                   allowed_hosts=settings.allowed_hosts, rate_cap=rate_cap,
                                   breaker=settings.breaker, credentials=Credentials(settings.credentials),
                                   masks=FieldMasks(
                                       names=tuple(f for f in settings.mask_fields if "." not in f),
                                       paths=tuple(f for f in settings.mask_fields if "." in f),
                                       emails=settings.mask_contacts, phones=settings.mask_contacts))
        self.tagger = Tagger(self.run_id)
        self.round_number = 0  # the round under way
        self._walk = CompiledWalk(model, self)
        self.journeys = 0          # every journey walked, whatever the phase
        self.explored = 0          # journeys that count against the budget
        self.steps = 0
        self.started = 0.0
        self.history = SessionHistory()  # engine state: fed directly, never through the bus
        self._database = example_database(settings.database) if settings.database else None
        self._raised: ReplayedJourney | None = None  # answers Hypothesis's replay of a raised failure
        self.notes = RoundNotes(emit=self.emit, run_id=self.run_id, max_steps=settings.max_steps)
        self.coverage = Coverage(model, settings.strategy)  # engine state too: fed in ``emit``, steers the walk
        self.until = parse_until(settings.until)
        self.must_walks = MustWalks(model, emit=self.emit, run_id=self.run_id, notes=self.notes,
                                    ran=self.coverage.ran, budget_spent=self._budget_spent)
        self.stop_reason: str | None = None  # set by request_stop
        self._current: JourneyRunner | None = None  # the exploring journey under way
        self.outages = OutageWatch(self.client.breaker, emit=self.emit, run_id=self.run_id,
                                   deadline=self._deadline)
        self.failures = Investigator(
            model=model, client=self.client, emit=self.emit, run_id=self.run_id, tagger=self.tagger,
            seed=self.seed, settings=settings, history=self.history, next_journey=self._next_journey,
            explored=lambda: self.explored, deadline=self._deadline, late=self._late, outages=self.outages,
            claims=claims, earlier=earlier)
        self.failures.carry(known)
        self.known_met: dict[str, None] = {}  # carried failures met again, in order
        self.rechecks = Rechecks(model=model, client=self.client, emit=self.emit, run_id=self.run_id,
                                 target_label=target.label, every_s=settings.recheck_every_s,
                                 times=settings.recheck_times, fixed=fixed,
                                 carried=lambda: {f: self.known[f] for f in self.failures.carried if f in self.known})
        self.known_refresh = KnownRefresh(stored_failures if settings.forever or settings.worker else None,
                                          every_s=settings.known_refresh_s, investigator=self.failures,
                                          emit=self.emit, run_id=self.run_id, token=stored_token)

    @property
    def known(self) -> dict[str, Failure]:
        """The failures reported so far, by fingerprint."""
        return self.failures.known

    def _next_journey(self) -> int:
        self.journeys += 1
        return self.journeys

    def emit(self, event) -> None:
        """Engine state first (it must not depend on any sink), then every subscriber."""
        if isinstance(event, StepFinished):
            self.steps += 1
            if event.phase == "explore":
                step = event.step
                self.coverage.took(event.journey, step.actor, step.action, step.source, step.target)
            if event.step.fingerprint in self.failures.carried and event.phase == "explore":
                self.known_met[event.step.fingerprint] = None
                self.rechecks.failed_again(event.step.fingerprint, "met while exploring")
        self.history.handle(event)
        self.bus.emit(event)

    # --- the Session protocol used by the compiled walk ------------------------------------
    def start_journey(self) -> JourneyRunner | ReplayedJourney:
        if self._raised is not None:
            return ReplayedJourney(self._raised.recorded, self._raised.failure)
        self._wait_while_paused()
        self.known_refresh.maybe()
        if self._budget_spent():
            # Hypothesis cannot be stopped from inside without confusing it: the
            # rest of this round's journeys do nothing, and no round follows.
            return JourneyRunner.inert(self.model)
        self.explored += 1
        self.journeys += 1
        self._current = self._runner(self.journeys, "explore")
        self._current.chooser, self._current.round = self.coverage.choose, self.round_number
        self.must_walks.steer(self._current)  # a golden path, walked first in the round
        return self._current

    def end_journey(self, runner: JourneyRunner | ReplayedJourney) -> StepFailure | None:
        """The failure to raise into Hypothesis (so its example is kept), if the journey found one."""
        if isinstance(runner, ReplayedJourney) or getattr(runner, "inert_journey", False):
            runner.finish()
            return runner.failure
        if runner.outage or (runner.failure is not None and self.outages.down_for(runner.failure)):
            self.outages.wait_out(discarded=1)  # then its clean-ups, on a target that answers again
            self._wait_while_paused()  # or once a pause window is over: nothing is sent in one
            runner.discard()
            runner.finish()
            return None
        runner.finish()
        if self.coverage.strategy == "coverage" and runner.journey == self.coverage.journey:
            hypothesis_target(float(self.coverage.new_in_journey), label="edges and pairs taken first")
        self.notes.short_journey(runner)
        failure = runner.failure
        if failure is None:
            self.failures.retry_held()
            return None
        self.failures.investigate(failure)
        self.failures.investigate_met()
        self._raised = ReplayedJourney(runner.choices, failure)
        return failure

    def data_rejected(self, action: str) -> None:
        self.notes.data_rejected(action)

    def _wait_while_paused(self) -> None:
        """Between journeys, while a pause window holds (or until the run's time is spent)."""
        if self.rate_cap is None:
            return
        while (slot := self.rate_cap.current()) is not None and slot.paused and not self._late():
            remaining = (slot.until.timestamp() - time.time()) if slot.until else 1.0
            deadline = self._deadline()
            if deadline is not None:
                remaining = min(remaining, deadline - time.monotonic())
            time.sleep(min(max(remaining, 0.01), 1.0))

    def _runner(self, journey: int, phase: str) -> JourneyRunner:
        return JourneyRunner(model=self.model, client=self.client, emit=self.emit, run_id=self.run_id,
                             journey=journey, phase=phase,
                             known=frozenset(self.known) | frozenset(self.failures.held) | self.failures.elsewhere,
                             tagger=self.tagger)

    # --- the run ---------------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """Stop well (a first SIGINT or SIGTERM): the step under way finishes, its journey's clean-ups
        run, a failure being investigated keeps what it has, and the run ends with its summary."""
        self.stop_reason = reason
        if self._current is not None:
            self._current.ended = True  # the journey takes no further step

    def _deadline(self) -> float | None:
        if self.stop_reason is not None:
            return time.monotonic()  # every budget is spent at once
        duration = self.settings.duration_s
        return None if duration is None else self.started + duration

    def _late(self) -> bool:
        deadline = self._deadline()
        return deadline is not None and time.monotonic() >= deadline

    def _budget_spent(self) -> bool:
        if self._until_met() is not None:
            return True
        if self.settings.forever:
            return self._late()
        return self.explored >= self.settings.journeys or self._late()

    def _until_met(self):
        if not self.until:
            return None
        new = sum(1 for f in self.known.values() if f.id not in self.failures.carried)
        return next((condition for condition in self.until if condition.met(self.coverage, new)), None)

    def _stop_reason(self) -> str:
        if self.stop_reason is not None:
            return self.stop_reason
        if (condition := self._until_met()) is not None:
            return f"--until {condition} met"
        if self.explored >= self.settings.journeys and not self.settings.forever:
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
                             model_revision=file_revision(self.model.file), host=socket.gethostname(),
                             edges=tuple((action.name, source, action.target or source)
                                         for action in self.model.actions
                                         for source in action.sources)))
        slot = self.rate_cap.current() if self.rate_cap is not None else None
        if slot is not None:  # the window the run starts in (later ones arrive through on_change)
            self.emit(RateChanged(run_id=self.run_id, description=slot.describe(), paused=slot.paused))
        interrupted = False
        stop_reason = ""
        for round_number in (itertools.count(1) if self.settings.forever else range(1, MAX_ROUNDS + 1)):
            if self._budget_spent():
                stop_reason = self._stop_reason()
                break
            try:
                if self.settings.forever and self.rechecks.due():
                    self._wait_while_paused()
                    self.rechecks.run(self._late)
                self._round(round_number)
            except KeyboardInterrupt:
                interrupted, stop_reason = True, "interrupted"
                break
        else:
            stop_reason = f"stopped after {MAX_ROUNDS} rounds"
        if not interrupted:
            if self.stop_reason is None:  # stopping: no new investigation starts
                self.failures.investigate_met()
            for fingerprint in list(self.failures.held):
                self.failures.report_held(fingerprint)
        finished = RunFinished(run_id=self.run_id, journeys=self.explored,
                               shrink_journeys=self.journeys - self.explored,
                               steps=self.steps, duration_s=time.monotonic() - self.started,
                               failures=tuple(f for f in self.known.values() if f.id not in self.failures.carried),
                               known_met=tuple(self.known_met), regressed=tuple(self.rechecks.regressed),
                               interrupted=interrupted or self.stop_reason is not None,
                               stop_reason=stop_reason, outages=tuple(self.outages.incidents),
                               coverage=self.coverage.summary())
        self.emit(finished)
        return finished

    def _round(self, number: int) -> None:
        """One Hypothesis search of at most ``ROUND_SIZE`` journeys."""
        self._raised = None
        ignore_engine_constants()  # engine modules imported since the last round
        self.emit(RoundStarted(run_id=self.run_id, round=number, known=tuple(self.known)))
        self.round_number = number
        seed = round_seed(self.seed, number)
        self.must_walks.walk(self._walk, seed, number, between=lambda: setattr(self, "_raised", None))
        database = (RoundDatabase(self._database, f"journeys:{self.model.name}:round{number}")
                    if self._database is not None else None)
        if self._budget_spent():
            return
        remaining = (ROUND_SIZE if self.settings.forever
                     else max(1, min(ROUND_SIZE, self.settings.journeys - self.explored)))
        config = hypothesis_settings(
            max_examples=remaining, deadline=None,
            database=database, suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet,
            report_multiple_bugs=False, print_blob=False,
            phases=[Phase.explicit, Phase.reuse, Phase.generate,
                    *([Phase.target] if self.coverage.strategy == "coverage" else [])],
        )
        try:
            self._walk.test(max_steps=self.settings.max_steps, config=config, seed=seed)()
        except KeyboardInterrupt:
            raise
        except BaseException as raised:  # noqa: BLE001 - every Hypothesis outcome is handled
            self.notes.after_round(number, raised)
        release_freed_memory()  # the round's search is gone: its pages go back, not into a growing heap


def default_user_agent(run_id: str) -> str:
    return f"journeys/{__version__} (run {run_id})"


