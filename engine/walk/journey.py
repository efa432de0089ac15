"""One journey: actors moving through the model's states, one checked step at a time.

``JourneyRunner`` is the step template shared by the Hypothesis walk and by
replays: run the action with its drawn data through a ``StepContext``
(``engine.model.step``: it sends requests via the ``TargetClient`` and records
checks), run the model's
invariants on every response, record the step, emit ``StepFinished``, and
either move the actor to the action's target state or return a ``StepFailure``
with its fingerprint. A step that meets a failure already reported (a
*known* one) is recorded as such and the actor stays where it was: the journey
goes on, so one known bug does not stall exploration. ``finish`` runs the
journey's registered clean-ups and the model's teardowns (``engine.walk.cleanups``).

``ReplayedJourney`` answers Hypothesis's replay of a journey that failed: it
draws what the original drew and sends nothing.
"""

from __future__ import annotations

import bisect
import itertools
import os
import time
import traceback
from typing import Any, Callable

import attrs

from engine.model.checks import CheckFailed
from engine.errors import JourneysError
from engine.events import (CleanupFinished, CleanupRegistered, CleanupWithdrawn, Event, JourneyFinished,
                           JourneyStarted, StepFinished)
from engine.model.declare import Action, Model
from engine.http.breaker import TargetDown
from engine.http.client import TargetClient, expand_path
from engine.http.session import Session
from engine.model.step import InvariantCheck, StepAborted, StepContext
from engine.records import CheckRecord, Fingerprint, StepRecord, status_class, to_jsonable
from engine.walk.cleanups import run_cleanups, run_teardowns
from engine.walk.memory import Memory

__all__ = ["Resource", "StepFailure", "JourneyRunner", "ReplayedJourney", "Tagger"]


@attrs.frozen
class Resource:
    """A value an action produced for later actions (an order, a review...)."""

    kind: str
    owner: str
    value: Any
    step: int

    def as_ref(self) -> dict[str, Any]:
        return {"$resource": self.kind, "step": self.step, "owner": self.owner}

    def __repr__(self) -> str:
        return f"<{self.kind} from step {self.step} by {self.owner}>"


@attrs.frozen
class StepFailure:
    """A step failed with a failure not yet known in this round."""

    fingerprint: Fingerprint
    check: CheckRecord
    steps: tuple[StepRecord, ...]
    journey: int


_JOURNEY_TOKENS = itertools.count(1)
_LEDGER_IDS = itertools.count(1)


class Tagger:
    """Unique tags for test data, so journeys never collide and data is recognisable."""

    def __init__(self, run_id: str) -> None:
        self.prefix = "jy" + run_id[:6]
        self.counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}x{next(self.counter)}"


def choose_weighted(pairs: list[tuple[str, Action]], fraction: float) -> tuple[str, Action]:
    """The pair at ``fraction`` of the pairs' summed weights."""
    cumulative = []
    total = 0
    for _, action in pairs:
        total += max(1, action.weight)
        cumulative.append(total)
    return pairs[bisect.bisect_right(cumulative, fraction * total)]


class JourneyRunner:
    """Runs the steps of one journey and keeps what its actors hold."""

    def __init__(self, *, model: Model, client: TargetClient, emit: Callable[[Event], None],
                 run_id: str, journey: int, phase: str, known: frozenset[str] | set[str],
                 tagger: Tagger) -> None:
        self.model = model
        self.client = client
        self.emit = emit
        self.run_id = run_id
        self.journey = journey
        self.phase = phase
        self.known = known
        self.tagger = tagger
        self.states: dict[str, str] = {actor: model.start for actor in model.actors}
        self.memory: dict[str, Memory] = {actor: Memory() for actor in model.actors}
        self.shared = Memory("shared:")
        self.sessions: dict[str, Session] = {actor: Session() for actor in model.actors}  # cookies, credentials
        self.steps: list[StepRecord] = []
        self.pools: dict[str, list[Resource]] = {kind: [] for kind in model.resources}
        self.cleanups: list[tuple] = []
        self.withdrawn: list[tuple[int, int]] = []  # clean-ups the running step withdrew
        self.crash_only: list[tuple[str, str]] = []  # (actor, ledger id) the teardown settles (step.created)
        self.choices: list[tuple[str, Action] | None] = []  # what each Hypothesis step chose
        self.ended = False
        self.outage = False  # the target went down during the journey: it is discarded
        self.outcome = "passed"
        self.fingerprint: str | None = None
        self.failure: StepFailure | None = None
        self.started = time.perf_counter()
        self.token = next(_JOURNEY_TOKENS)  # tells this journey's traced values from any other's
        emit(JourneyStarted(run_id=run_id, journey=journey, phase=phase))

    @classmethod
    def inert(cls, model: Model) -> JourneyRunner:
        """A journey that runs nothing and reports nothing (the budget is spent)."""
        runner = cls.__new__(cls)
        runner.model, runner.ended, runner.failure, runner.inert_journey = model, True, None, True
        runner.choices, runner.steps = [], []
        return runner

    inert_journey = False
    chooser = None  # the explorer's choice for exploring journeys (engine.walk.coverage); else by weight
    round = 0  # the exploring round it belongs to (0: shrinking, replays)
    must_walk: str | None = None  # the golden path it walks (engine.walk.must_walk)

    def enabled(self, actor: str, action: Action) -> bool:
        if self.ended or self.states[actor] not in action.sources:
            return False
        if action.precondition is None:
            return True
        return bool(action.precondition(self.memory[actor]))

    def can_run(self, actor: str, action: Action) -> bool:
        """In a source state, precondition holds, and a resource for each one consumed."""
        return self.enabled(actor, action) and all(self.pools[kind.name] for kind in action.consumes.values())

    def runnable(self) -> list[tuple[str, Action]]:
        """Every (actor, action) pair that can run now, actors and actions in declaration order."""
        if self.ended:
            return []
        pairs = []
        for actor in self.model.actors:
            for action in self.model.actions_from(self.states[actor]):
                if self.can_run(actor, action):
                    pairs.append((actor, action))
        return pairs

    def choose(self, fraction: float) -> tuple[str, Action] | None:
        """The pair at ``fraction`` of the runnable pairs' weights (None: nothing can run)."""
        pairs = self.runnable()
        if not pairs:
            chosen = None
        elif self.chooser is not None:
            chosen = self.chooser(self.states, pairs, fraction)
        else:
            chosen = choose_weighted(pairs, fraction)
        self.choices.append(chosen)
        return chosen

    def attempt(self, actor: str, action: Action, drawn: dict[str, Any]) -> bool:
        """Run a drawn step if it can run now; resources are drawn as pool positions.

        Returns whether the step ran.
        """
        if not self.can_run(actor, action):
            return False
        data = dict(drawn)
        for key, kind in action.consumes.items():
            pool = self.pools[kind.name]
            data[key] = pool[drawn[key] % len(pool)]
        self.run(actor, action, data)
        return True

    def run(self, actor: str, action: Action, data: dict[str, Any]) -> Any:
        """Run one step: the produced value, ``None`` (also for a known failure met again) or a ``StepFailure``."""
        context = StepContext(self, actor, action.name, idempotent=action.idempotent)
        source = self.states[actor]
        started = time.perf_counter()
        self.withdrawn.clear()
        result: Any = None
        failed: CheckRecord | None = None
        requires: set[str] = set()
        reads: set[str] = set()
        writes: set[str] = set()
        try:
            if action.precondition is not None:  # what it reads, the step cannot run without
                self.memory[actor].track(requires, None)
                action.precondition(self.memory[actor])
            self.memory[actor].track(reads, writes)
            self.shared.track(reads, writes)
            result = action.function(context, **data)
        except (CheckFailed, StepAborted) as raised:
            failed = raised.record
        except TargetDown:
            # An outage, not a finding: the journey is over and will be discarded. A replay or a
            # shrink stops at once (the explorer waits the outage out); inside Hypothesis's walk
            # the rest of the journey's steps do nothing.
            self.ended = self.outage = True
            if self.phase != "explore":
                raise
            return None
        except JourneysError:  # a host not allowed, a subscriber that broke: the run stops
            raise
        except Exception as error:  # the model's code, or a response it could not parse
            failed = _error_record(error, action.function, len(context.requests) - 1)
        finally:
            self.memory[actor].track(None, None)
            self.shared.track(None, None)
        if failed is None:
            failed = self._check_invariants(context)
        duration_ms = (time.perf_counter() - started) * 1000
        if failed is not None and failed not in context.checks:
            context.checks.append(failed)
        # What a check quotes of a response is recorded with other people's data masked, and what
        # it expected with no credential's value in it.
        masks = self.client.masks
        checks = [attrs.evolve(check, actual=masks.data(check.actual), message=masks.text(check.message),
                               expected=masks.hide(check.expected))
                  if not check.passed else (attrs.evolve(check, expected=masks.hide(check.expected))
                                            if masks.hidden else check) for check in context.checks]
        if failed is not None:
            failed = checks[next(i for i, check in enumerate(context.checks) if check is failed)]
        produced = None
        fingerprint = None
        outcome = "passed"
        if failed is None:
            self.states[actor] = action.target or source
            if action.produces is not None and result is not None:
                produced = action.produces.name
        else:
            fingerprint = self._fingerprint(context.requests, failed, action.name)
            outcome = "known" if fingerprint.id in self.known else "failed"
        record = StepRecord(
            index=len(self.steps), actor=actor, action=action.name, source=source,
            target=self.states[actor], data=to_jsonable(data), requests=tuple(context.requests),
            checks=tuple(checks), outcome=outcome,
            duration_ms=duration_ms, tags=tuple(context.tags), produced=produced,
            cleanups=context.cleanups_registered, cleanup_requests=tuple(context.cleanup_requests),
            cancelled_cleanups=tuple(self.withdrawn), reads=tuple(sorted(reads)), writes=tuple(sorted(writes)),
            requires=tuple(sorted(requires)),
            fingerprint=fingerprint.id if fingerprint else None)
        self.steps.append(record)
        self.emit(StepFinished(run_id=self.run_id, journey=self.journey, phase=self.phase, step=record))
        if fingerprint is not None:
            return self._fail(record, failed, fingerprint)
        if produced is not None:
            resource = Resource(kind=produced, owner=actor, value=result, step=record.index)
            self.pools[produced].append(resource)
            return resource
        return None

    def register_cleanup(self, actor: str, action: str, method: str, template: str, path_vars: dict,
                         auth: dict | None, *, crash_only: bool) -> str:
        """Put a clean-up in the ledger (an event its subscriber writes at once); its ledger id."""
        ledger_id = f"{self.run_id}-{next(_LEDGER_IDS)}"
        self.emit(CleanupRegistered(run_id=self.run_id, journey=self.journey, phase=self.phase,
                                    ledger_id=ledger_id, actor=actor, step=len(self.steps), action=action,
                                    method=method, template=template, path_vars=path_vars,
                                    path=expand_path(template, path_vars), auth=auth, crash_only=crash_only))
        return ledger_id

    def withdraw(self, ledger_id: str, reason: str) -> None:
        self.emit(CleanupWithdrawn(run_id=self.run_id, journey=self.journey, ledger_id=ledger_id,
                                   reason=reason))

    def _cleaned(self, actor: str, method: str, path: str, status: int | None, *,
                 created_by_step: int | None = None, created_by_action: str | None = None,
                 ledger_id: str | None = None, requests: int = 1, missing_is_gone: bool = True) -> None:
        ok = status is not None and (status < 300 or (missing_is_gone and status in (404, 410)))
        self.emit(CleanupFinished(run_id=self.run_id, journey=self.journey, actor=actor,
                                  method=method, path=path, status=status, ok=ok,
                                  created_by_step=created_by_step,
                                  created_by_action=created_by_action, ledger_id=ledger_id,
                                  requests=requests))

    def _check_invariants(self, context: StepContext) -> CheckRecord | None:
        for index, response in enumerate(context.responses):
            for invariant in self.model.invariants:
                try:
                    invariant.function(InvariantCheck(context, invariant.name, index), response)
                except CheckFailed as raised:
                    return raised.record
                except Exception as error:
                    return _error_record(error, invariant.function, index,
                                         prefix=f"invariant {invariant.name!r}: ")
        return None

    @staticmethod
    def _fingerprint(requests, check: CheckRecord, action: str) -> Fingerprint:
        status = (requests[check.response].status
                  if check.response is not None and 0 <= check.response < len(requests)
                  else (requests[-1].status if requests else None))
        label = f"invariant: {check.name}" if check.source == "invariant" else check.name
        return Fingerprint(action=action, check=label, status=status_class(status))

    def _fail(self, record: StepRecord, check: CheckRecord, fingerprint: Fingerprint) -> Any:
        if fingerprint.id in self.known:
            # Met again: an occurrence. The actor stays where it was and the journey goes on.
            if self.outcome == "passed":
                self.outcome, self.fingerprint = "known", fingerprint.id
            return None
        self.ended = True
        self.outcome, self.fingerprint = "failed", fingerprint.id
        self.failure = StepFailure(fingerprint=fingerprint, check=check, steps=tuple(self.steps),
                                   journey=self.journey)
        return self.failure

    def discard(self) -> None:
        """The target was down: the journey says nothing about it (no failure, no occurrence)."""
        self.ended = True
        self.outcome, self.fingerprint, self.failure = "discarded", None, None

    def finish(self) -> None:
        """Run clean-ups (newest first), then the model's teardowns; never raises."""
        if self.inert_journey:
            return
        run_cleanups(self)
        run_teardowns(self)
        self.emit(JourneyFinished(run_id=self.run_id, journey=self.journey, phase=self.phase,
                                  steps=len(self.steps), outcome=self.outcome,
                                  fingerprint=self.fingerprint, round=self.round, must_walk=self.must_walk,
                                  duration_ms=(time.perf_counter() - self.started) * 1000))


class ReplayedJourney:
    """Hypothesis replaying a journey that failed (to raise its error): the same draws, no requests.

    Each step chooses what the original chose, so the walk draws exactly the
    data it drew then, and the journey ends with the original's failure.
    """

    inert_journey = True
    ended = True

    def __init__(self, choices: list[tuple[str, Action] | None], failure: StepFailure) -> None:
        self.recorded = list(choices)
        self.failure = failure
        self.choices: list[tuple[str, Action] | None] = []

    def choose(self, fraction: float) -> tuple[str, Action] | None:
        position = len(self.choices)
        chosen = self.recorded[position] if position < len(self.recorded) else None
        self.choices.append(chosen)
        return chosen

    def attempt(self, actor: str, action: Action, drawn: dict[str, Any]) -> bool:
        return False

    def finish(self) -> None:
        return None


def _error_record(error: Exception, function: Callable[..., Any], response: int,
                  prefix: str = "") -> CheckRecord:
    code = getattr(function, "__code__", None)
    frames = traceback.extract_tb(error.__traceback__)
    where = next((f for f in reversed(frames) if code and f.filename == code.co_filename), None)
    location = f" at {os.path.basename(where.filename)}:{where.lineno}" if where else ""
    return CheckRecord(name=f"{prefix}error: {type(error).__name__}", kind="error", passed=False,
                       expected="no exception", actual=f"{type(error).__name__}: {error}",
                       message=f"{prefix}{type(error).__name__}: {error}{location}",
                       response=response if response >= 0 else None)
