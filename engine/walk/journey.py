"""One journey: actors moving through the model's states, one checked step at a time.

``JourneyRunner`` is the step template shared by the Hypothesis walk and by
replays: run the action with its drawn data through a ``StepContext`` (which
sends requests via the ``TargetClient`` and records checks), run the model's
invariants on every response, record the step, emit ``StepFinished``, and
either move the actor to the action's target state or return a ``StepFailure``
with its fingerprint. A step that meets a failure already reported (a
*known* one) is recorded as such and the actor stays where it was: the journey
goes on, so one known bug does not stall exploration. ``finish`` runs the
journey's registered clean-ups.

``Memory`` (an actor's ``step.me``, and ``step.shared``) notes which keys each
step reads and writes; with the resources a step consumed and the state it
left from, that is what ``engine.walk.shrink`` slices a failing journey by.
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
import httpx

from engine.walk import checks
from engine.walk.checks import CheckFailed
from engine.errors import JourneysError
from engine.events import CleanupFinished, Event, JourneyFinished, JourneyStarted, StepFinished
from engine.model.declare import Action, Model
from engine.http.provenance import links_in, plain, trace_response
from engine.records import CheckRecord, Fingerprint, RequestRecord, StepRecord, status_class, to_jsonable
from engine.http.client import TargetClient

__all__ = ["Resource", "StepFailure", "StepContext", "JourneyRunner", "ReplayedJourney", "Tagger",
           "Memory", "KNOWN"]


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
KNOWN = object()  # the step met a failure reported earlier: recorded, and the journey goes on


class Tagger:
    """Unique tags for test data, so journeys never collide and data is recognisable."""

    def __init__(self, run_id: str) -> None:
        self.prefix = "jy" + run_id[:6]
        self.counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}x{next(self.counter)}"


class Memory(dict):
    """A dict that notes the keys read and written while a step runs (``step.me``, ``step.shared``).

    Iterating over it, or asking its size, reads every key (``"*"``).
    """

    def __init__(self, prefix: str = "") -> None:
        super().__init__()
        self.prefix = prefix
        self.reads: set[str] | None = None
        self.writes: set[str] | None = None

    def track(self, reads: set[str] | None, writes: set[str] | None) -> None:
        self.reads, self.writes = reads, writes

    def _read(self, key: Any) -> None:
        if self.reads is not None:
            self.reads.add(self.prefix + str(key))

    def _wrote(self, key: Any) -> None:
        if self.writes is not None:
            self.writes.add(self.prefix + str(key))

    def __getitem__(self, key: Any) -> Any:
        self._read(key)
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._read(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self._read(key)
        return super().__contains__(key)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._read(key)
        self._wrote(key)
        return super().setdefault(key, default)

    def pop(self, key: Any, *default: Any) -> Any:
        self._read(key)
        self._wrote(key)
        return super().pop(key, *default)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._wrote(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self._wrote(key)
        super().__delitem__(key)

    def update(self, *args: Any, **kwargs: Any) -> None:
        new = dict(*args, **kwargs)
        for key in new:
            self._wrote(key)
        super().update(new)

    def clear(self) -> None:
        for key in list(super().keys()):
            self._wrote(key)
        super().clear()

    def _read_all(self) -> None:
        self._read("*")

    def __iter__(self):
        self._read_all()
        return super().__iter__()

    def __len__(self) -> int:
        self._read_all()
        return super().__len__()

    def keys(self):
        self._read_all()
        return super().keys()

    def values(self):
        self._read_all()
        return super().values()

    def items(self):
        self._read_all()
        return super().items()


class CleanupHandle:
    """A registered clean-up; ``cancel()`` withdraws it (safe to call twice)."""

    def __init__(self, pending: list, entry: tuple, recorded: tuple[int, int], withdrawn: list) -> None:
        self._pending = pending
        self._entry = entry
        self._recorded = recorded    # (step index, position in its cleanup_requests)
        self._withdrawn = withdrawn  # the runner's: what the step now running withdrew

    def cancel(self) -> None:
        if any(item is self._entry for item in self._pending):
            self._pending[:] = [item for item in self._pending if item is not self._entry]
            self._withdrawn.append(self._recorded)


class _Aborted(Exception):
    def __init__(self, record: CheckRecord) -> None:
        super().__init__(record.message)
        self.record = record


class StepContext:
    """What an action function receives as ``step``: requests, memory and checks."""

    def __init__(self, runner: JourneyRunner, actor: str, action: str, *, idempotent: bool = False) -> None:
        self._runner = runner
        self.actor = actor
        self.action = action
        self.idempotent = idempotent
        self.me: Memory = runner.memory[actor]
        self.shared: Memory = runner.shared
        self.requests: list[RequestRecord] = []
        self.responses: list[httpx.Response] = []
        self.checks: list[CheckRecord] = []
        self.tags: list[str] = []
        self.cleanups_registered = 0
        self.cleanup_requests: list[dict[str, Any]] = []  # as recorded, for the walks of engine.export.script

    # --- requests -------------------------------------------------------------------------
    def request(self, method: str, template: str, *, json: Any = None,
                params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                **path_vars: Any) -> httpx.Response:
        runner = self._runner
        sent_headers = dict(headers or {})
        token = runner.tokens.get(self.actor)
        links = [*links_in(path_vars, ("path",), runner.token), *links_in(json, ("json",), runner.token),
                 *links_in(params, ("params",), runner.token), *links_in(sent_headers, ("headers",), runner.token)]
        if token and "Authorization" not in sent_headers:
            sent_headers["Authorization"] = f"Bearer {token}"
            links += [dict(link, prefix="Bearer ") for link in links_in(token, ("headers", "Authorization"),
                                                                         runner.token)]
        response, record = runner.client.send(method, template, path_vars=plain(path_vars), json=plain(json),
                                              params=plain(params), headers=plain(sent_headers),
                                              idempotent=self.idempotent, action=self.action)
        if links:
            record = attrs.evolve(record, links=tuple(links))
        self.requests.append(record)
        if response is None:
            raise _Aborted(CheckRecord(
                name="target answers", kind="error", passed=False, expected="a response",
                actual=record.error, response=len(self.requests) - 1,
                message=f"{method} {record.path}: no response after {record.attempts} attempts "
                        f"({record.error})"))
        self.responses.append(trace_response(response, runner.token, len(runner.steps), len(self.requests) - 1))
        return response

    def get(self, template: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", template, **kwargs)

    def post(self, template: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", template, **kwargs)

    def put(self, template: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", template, **kwargs)

    def patch(self, template: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", template, **kwargs)

    def delete(self, template: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", template, **kwargs)

    # --- the actor's session and test data --------------------------------------------
    def authenticate(self, token: str | None) -> None:
        """Send ``Authorization: Bearer token`` on this actor's later requests (None: stop)."""
        self._runner.tokens[self.actor] = token

    @property
    def signed_in(self) -> bool:
        """Whether this actor currently sends a bearer token."""
        return bool(self._runner.tokens.get(self.actor))

    def unique(self, value: str) -> str:
        """Tag test data so it is unique and recognisable: ``a@x.org`` -> ``a+jy1a2b3cx7@x.org``."""
        tag = self._runner.tagger.next()
        self.tags.append(tag)
        if "@" in value:
            local, _, domain = value.rpartition("@")
            return f"{local}+{tag}@{domain}"
        return f"{value}-{tag}"

    def cleanup(self, method: str, template: str, **path_vars: Any) -> CleanupHandle:
        """Register a request that removes what this step created, run when the journey ends.

        Keep the handle to withdraw it (``handle.cancel()``) once a later step made
        it unnecessary, e.g. an order returned or an account deleted with its data.
        """
        self.cleanups_registered += 1
        runner = self._runner
        token = runner.tokens.get(self.actor)
        links = [*links_in(path_vars, ("path",), runner.token),
                 *(dict(link, prefix="Bearer ") for link in links_in(token, ("headers", "Authorization"),
                                                                    runner.token))]
        self.cleanup_requests.append({"method": method, "template": template, "path_vars": plain(path_vars),
                                      "headers": {"Authorization": "Bearer ***"} if token else {},
                                      "links": links})
        entry = (self.actor, self._runner.tokens.get(self.actor), method, template, path_vars,
                 len(self._runner.steps), self.action)
        self._runner.cleanups.append(entry)
        recorded = (len(self._runner.steps), len(self.cleanup_requests) - 1)
        return CleanupHandle(self._runner.cleanups, entry, recorded, self._runner.withdrawn)

    # --- checks ----------------------------------------------------------------------------
    def _index(self, response: httpx.Response) -> int | None:
        return next((i for i, r in enumerate(self.responses) if r is response), None)

    def _record(self, record: CheckRecord) -> None:
        links = tuple(links_in(record.expected, (), self._runner.token))
        record = attrs.evolve(record, expected=plain(record.expected), actual=plain(record.actual), links=links)
        self.checks.append(record)
        if not record.passed:
            raise CheckFailed(record)

    def expect_status(self, response: httpx.Response, *codes: int, name: str | None = None) -> None:
        """The response status is one of ``codes``."""
        self._record(checks.status_check(response, codes, name=name, index=self._index(response),
                                         source="action"))

    def expect_field(self, response: httpx.Response, path: str, op: str, value: Any, *,
                     name: str | None = None) -> None:
        """A JSON field compares to ``value``: ``step.expect_field(r, "total", ">=", 0)``."""
        self._record(checks.field_check(response, path, op, value, name=name,
                                        index=self._index(response), source="action"))

    def expect_text(self, response: httpx.Response, path: str | None, contains: str, *,
                    name: str | None = None) -> None:
        """The copy is as written: ``contains`` appears in a JSON field (``path=None``: the body).

        A failed text check on a successful response makes the failure a *content change*.
        """
        self._record(checks.text_check(response, path, contains, name=name,
                                       index=self._index(response), source="action"))

    def expect(self, condition: bool, name: str, detail: str | None = None, *,
               response: httpx.Response | None = None) -> None:
        """Any other condition (model code decides; exported as a comment, not an assert)."""
        index = self._index(response) if response is not None else None
        self._record(checks.condition_check(condition, name, detail, index=index, source="action"))


class InvariantCheck:
    """What an invariant function receives as ``check``."""

    def __init__(self, context: StepContext, name: str, index: int) -> None:
        self._context = context
        self._name = name
        self._index = index

    def _record(self, record: CheckRecord) -> None:
        # Passing invariant checks are implied by a passing step; only failures are kept.
        if not record.passed:
            self._context._record(record)

    def status(self, response: httpx.Response, *codes: int) -> None:
        self._record(checks.status_check(response, codes, name=self._name, index=self._index,
                                         source="invariant"))

    def status_below(self, response: httpx.Response, limit: int) -> None:
        """The status is below ``limit`` (e.g. 500: no server errors)."""
        self._record(checks.status_below_check(response, limit, name=self._name, index=self._index,
                                               source="invariant"))

    def field(self, response: httpx.Response, path: str, op: str, value: Any) -> None:
        self._record(checks.field_check(response, path, op, value, name=self._name,
                                        index=self._index, source="invariant"))

    def text(self, response: httpx.Response, path: str | None, contains: str) -> None:
        self._record(checks.text_check(response, path, contains, name=self._name, index=self._index,
                                       source="invariant"))

    def that(self, condition: bool, detail: str | None = None) -> None:
        self._record(checks.condition_check(condition, self._name, detail, index=self._index,
                                            source="invariant"))


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
        self.tokens: dict[str, str | None] = {}
        self.steps: list[StepRecord] = []
        self.pools: dict[str, list[Resource]] = {kind: [] for kind in model.resources}
        self.cleanups: list[tuple] = []
        self.withdrawn: list[tuple[int, int]] = []  # clean-ups the running step withdrew
        self.choices: list[tuple[str, Action] | None] = []  # what each Hypothesis step chose
        self.ended = False
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
        chosen = choose_weighted(pairs, fraction) if pairs else None
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
        """Run one step: the produced value, ``None``, ``KNOWN`` or a ``StepFailure``."""
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
        except (CheckFailed, _Aborted) as raised:
            failed = raised.record
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
            checks=tuple(context.checks), outcome=outcome,
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

    def _cleaned(self, actor: str, method: str, path: str, status: int | None, *,
                 created_by_step: int | None = None, created_by_action: str | None = None) -> None:
        ok = status is not None and (status < 300 or status in (404, 410))
        self.emit(CleanupFinished(run_id=self.run_id, journey=self.journey, actor=actor,
                                  method=method, path=path, status=status, ok=ok,
                                  created_by_step=created_by_step,
                                  created_by_action=created_by_action))

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
            return KNOWN
        self.ended = True
        self.outcome, self.fingerprint = "failed", fingerprint.id
        self.failure = StepFailure(fingerprint=fingerprint, check=check, steps=tuple(self.steps),
                                   journey=self.journey)
        return self.failure

    def finish(self) -> None:
        """Run clean-ups (newest first), then the model's teardowns; never raises."""
        if self.inert_journey:
            return
        for actor, token, method, template, path_vars, step, action in reversed(self.cleanups):
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            try:
                response, record = self.client.send(method, template, path_vars=plain(path_vars),
                                                    headers=headers, action=f"clean-up of {action}")
            except Exception:  # a clean-up must never break the run
                response, record = None, None
            status = response.status_code if response is not None else None
            self._cleaned(actor, method, record.path if record else template, status,
                          created_by_step=step, created_by_action=action)
        self.cleanups.clear()
        for teardown in self.model.teardowns:
            for actor in self.model.actors:
                context = StepContext(self, actor, f"teardown:{teardown.__name__}")
                try:
                    teardown(context)
                except Exception:  # reported through the requests it made, never raised
                    pass
                for record in context.requests:
                    self._cleaned(actor, record.method, record.path, record.status)
        self.emit(JourneyFinished(run_id=self.run_id, journey=self.journey, phase=self.phase,
                                  steps=len(self.steps), outcome=self.outcome,
                                  fingerprint=self.fingerprint,
                                  duration_ms=(time.perf_counter() - self.started) * 1000))


class ReplayedJourney:
    """Hypothesis replaying a journey that failed (to raise its error): the same draws, no requests.

    Each step chooses what the original chose, so the machine draws exactly the
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
