"""A failure's path as one script: what replay, the pytest export and the curl export all walk.

``build_script`` turns a failure's recorded steps into requests whose values
are either literals (what the model drew or wrote) or run-time values: a
field of an earlier response (``Ref``, from the links ``engine.http.provenance``
recorded, never from equal values), this run's test-data tag (``Tag``), a
secret read from the environment (``Secret``), or a string put together from
those (``Text``). Each step keeps the checks that passed in the failing run as
*guards* (a step that answers otherwise means the path could not be walked)
and the failing step its *final* check.

``walk_script`` sends that script through a ``TargetClient`` and evaluates its
checks with the engine's own check functions: *reproduced*, *not reproduced*
or *diverged* (the path could not be walked), then runs the clean-ups the
walked steps registered (a setup walk's when that walk ends, as its journey's
did: what it leaves behind is what they leave). The exporters render the same script as Python and
as bash, so what the engine confirmed is what a developer runs.
"""

from __future__ import annotations

import json
import os
import re
import secrets as random_secrets
import time
import uuid
from typing import Any, Callable

import attrs
import httpx

from engine.model import checks
from engine.model.checks import split_path
from engine.events import CleanupFinished, Event, JourneyFinished, JourneyStarted, StepFinished
from engine.records import CheckRecord, Failure, RequestRecord, StepRecord
from engine.redact import is_secret_name

__all__ = ["Ref", "Tag", "Secret", "Text", "ScriptRequest", "ScriptCheck", "ScriptStep", "Script",
           "ScriptOutcome", "Recorder", "build_script", "walk_script", "RUN_TIME", "EVALUATED_KINDS", "SECRET_PREFIX"]

EVALUATED_KINDS = ("status", "status_below", "field", "text")  # checks a script can evaluate as data
SECRET_PREFIX = "JOURNEYS_SECRET_"


@attrs.frozen
class Ref:
    """A field of an earlier response of the same walk: ``r{response}.json()`` at ``path``."""

    response: int
    path: tuple
    text: bool = True  # the value was a string (otherwise a number, written as JSON in text)


@attrs.frozen
class Tag:
    """This run's test-data tag number ``number`` (fresh on every run, so data never collides)."""

    number: int


@attrs.frozen
class Secret:
    """A secret, from ``JOURNEYS_SECRET_<NAME>`` or made up for the run; never written down."""

    name: str

    @property
    def variable(self) -> str:
        return SECRET_PREFIX + re.sub(r"[^0-9A-Z]+", "_", self.name.upper())


@attrs.frozen
class Text:
    """A string put together at run time from literal pieces and run-time values."""

    parts: tuple


RUN_TIME = (Ref, Tag, Secret, Text)


@attrs.frozen
class ScriptRequest:
    number: int  # r1, r2... across the whole script (0 for a clean-up)
    method: str
    template: str
    path_vars: dict[str, Any]
    params: Any
    json: Any
    headers: dict[str, Any]
    has_body: bool


@attrs.frozen
class ScriptCheck:
    record: CheckRecord
    role: str          # "guard", "final", "skipped" (a known failure met on the way) or "model"
    response: int | None  # the request number it looks at
    expected: Any      # field: the value; text: what it contains; status: the codes


@attrs.frozen
class ScriptStep:
    walk: int          # 0-based position in the failure's walks (the last is the failing path)
    walk_title: str
    setup: bool        # a journey that left data behind, walked before the failing path
    index: int
    actor: str
    action: str
    failing: bool
    record: StepRecord
    requests: tuple[ScriptRequest, ...]
    checks: tuple[ScriptCheck, ...]
    cleanups: tuple[ScriptRequest, ...]

    @property
    def final(self) -> ScriptCheck | None:
        return next((c for c in self.checks if c.role == "final"), None)


@attrs.frozen
class Script:
    steps: tuple[ScriptStep, ...]
    walk_titles: tuple[str, ...]
    tags: int
    tag_values: dict[str, int] = attrs.field(factory=dict)  # recorded tag -> its Tag number (for labels)

    @property
    def failing_step(self) -> ScriptStep:
        return self.steps[-1]

    def secrets(self) -> list[Secret]:
        found: dict[str, Secret] = {}

        def walk(node: Any) -> None:
            if isinstance(node, Secret):
                found.setdefault(node.name, node)
            elif isinstance(node, Text):
                for part in node.parts:
                    walk(part)
            elif isinstance(node, dict):
                for item in node.values():
                    walk(item)
            elif isinstance(node, (list, tuple)):
                for item in node:
                    walk(item)

        for step in self.steps:
            for request in (*step.requests, *step.cleanups):
                walk([request.path_vars, request.params, request.json, request.headers])
            for check in step.checks:
                walk(check.expected)
        return sorted(found.values(), key=lambda secret: secret.name)

    @property
    def needs_model(self) -> bool:
        """Whether only the model can decide the failing check (a condition, or an error in its code)."""
        final = self.failing_step.final
        return final is None or final.record.kind not in EVALUATED_KINDS


# --- building ----------------------------------------------------------------------------------
class _Builder:
    def __init__(self, failure: Failure) -> None:
        self.failure = failure
        tags = [tag for _, steps in failure.walks for step in steps for tag in step.tags]
        self.tags = {tag: number for number, tag in enumerate(dict.fromkeys(tags), 1)}
        self.tag_pattern = (re.compile("|".join(re.escape(t) for t in sorted(self.tags, key=len, reverse=True)))
                            if self.tags else None)
        self.numbers: dict[tuple[int, int, int], int] = {}  # (walk, step, request) -> request number
        self.counter = 0

    def build(self) -> Script:
        steps = []
        walks = self.failure.walks
        for walk, (title, records) in enumerate(walks):
            # Clean-ups a later step of the walk withdrew (``handle.cancel()``) are not part of it.
            self.cancelled = {tuple(cancel) for record in records for cancel in record.cancelled_cleanups}
            for record in records:
                steps.append(self._step(walk, title, walk < len(walks) - 1, record))
        return Script(steps=tuple(steps), walk_titles=tuple(title for title, _ in walks), tags=len(self.tags),
                      tag_values=dict(self.tags))

    def _step(self, walk: int, title: str, setup: bool, record: StepRecord) -> ScriptStep:
        failing = record is self.failure.failing_step
        requests = []
        for position, request in enumerate(record.requests):
            self.counter += 1
            self.numbers[(walk, record.index, position)] = self.counter
            requests.append(self._request(walk, request.method, request.template, request.path_vars,
                                          request.params, request.json, request.headers, request.links,
                                          self.counter, fallback_path=request.path))
        cleanups = tuple(self._request(walk, c["method"], c["template"], c.get("path_vars"), None, None,
                                       c.get("headers") or {}, c.get("links") or (), 0)
                         for position, c in enumerate(record.cleanup_requests)
                         if (record.index, position) not in self.cancelled)
        final = record.failed_check if failing else None
        script_checks = []
        for check in record.checks:
            if check.passed and check.source == "invariant":
                continue
            script_checks.append(self._check(walk, record, check, final, requests))
            if check is final:
                break
        return ScriptStep(walk=walk, walk_title=title, setup=setup, index=record.index, actor=record.actor,
                          action=record.action, failing=failing, record=record, requests=tuple(requests),
                          checks=tuple(script_checks), cleanups=cleanups)

    def _request(self, walk: int, method: str, template: str, path_vars: Any, params: Any, body: Any,
                 headers: dict[str, str], links: Any, number: int, fallback_path: str | None = None
                 ) -> ScriptRequest:
        linked = {tuple(link["at"]): link for link in links}
        if path_vars is None and fallback_path is not None:  # recorded before path variables were kept
            template, path_vars = fallback_path.replace("{", "{{").replace("}", "}}"), {}
        rendered_headers = {}
        for name, value in headers.items():
            rendered = self._value(value, ("headers", name), linked, walk)
            if is_secret_name(name) and not isinstance(rendered, RUN_TIME):  # never a secret's literal
                rendered = Secret(name.lower())
            rendered_headers[name] = rendered
        return ScriptRequest(
            number=number, method=method, template=template,
            path_vars={k: self._value(v, ("path", k), linked, walk) for k, v in (path_vars or {}).items()},
            params=self._value(params, ("params",), linked, walk) if params else None,
            json=self._value(body, ("json",), linked, walk), headers=rendered_headers,
            has_body=body is not None)

    def _value(self, value: Any, at: tuple, linked: dict, walk: int) -> Any:
        link = linked.get(at)
        if link is not None:
            number = self.numbers.get((walk, link["step"], link["request"]))
            if number is not None:
                ref = Ref(response=number, path=tuple(link["path"]), text=isinstance(value, str))
                prefix = link.get("prefix") or ""
                return Text((prefix, ref)) if prefix else ref
        if isinstance(value, dict):
            return {k: (Secret(k.lower()) if _is_secret(k, v) and (*at, k) not in linked
                        else self._value(v, (*at, str(k)), linked, walk)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._value(v, (*at, i), linked, walk) for i, v in enumerate(value)]
        if isinstance(value, str):
            return self._tagged(value)
        return value

    def _tagged(self, text: str) -> Any:
        if self.tag_pattern is None or not self.tag_pattern.search(text):
            return text
        parts: list[Any] = []
        position = 0
        for match in self.tag_pattern.finditer(text):
            if match.start() > position:
                parts.append(text[position:match.start()])
            parts.append(Tag(self.tags[match.group(0)]))
            position = match.end()
        if position < len(text):
            parts.append(text[position:])
        return Text(tuple(parts))

    def _check(self, walk: int, record: StepRecord, check: CheckRecord, final: CheckRecord | None,
               requests: list[ScriptRequest]) -> ScriptCheck:
        number = requests[check.response].number if check.response is not None and \
            0 <= check.response < len(requests) else None
        linked = {tuple(link["at"]): link for link in check.links}
        if check.kind == "field":
            expected = self._value(check.expected["value"], ("value",), linked, walk)
        elif check.kind == "text":
            expected = self._value(check.expected["contains"], ("contains",), linked, walk)
        else:
            expected = check.expected
        if check is final:
            role = "final"
        elif not check.passed:
            role = "skipped"
        elif check.kind in EVALUATED_KINDS and number is not None:
            role = "guard"
        else:
            role = "model"
        return ScriptCheck(record=check, role=role, response=number, expected=expected)


def _is_secret(key: Any, value: Any) -> bool:
    return isinstance(key, str) and isinstance(value, str) and is_secret_name(key)


def build_script(failure: Failure) -> Script:
    """The failure's walks (a left-behind setup first, if any) as one script."""
    return _Builder(failure).build()


# --- walking -----------------------------------------------------------------------------------
@attrs.frozen
class ScriptOutcome:
    """What walking a script showed: ``reproduced``, ``not reproduced`` or ``diverged``."""

    verdict: str
    message: str
    step: ScriptStep | None = None
    by_status: bool = False  # the final check is model code: decided by the status the failing run got
    requests: int = 0


class _Diverged(Exception):
    pass


class _Walk:
    def __init__(self, client, tag: str, secret_values: dict[str, str]) -> None:
        self.client = client
        self.tag = tag
        self.secret_values = secret_values
        self.responses: dict[int, httpx.Response | None] = {}
        self.labels: dict[int, str] = {}
        self.sent = 0

    def value(self, node: Any) -> Any:
        if isinstance(node, Ref):
            response = self.responses.get(node.response)
            where = self.labels.get(node.response, f"r{node.response}")
            try:
                value: Any = response.json() if response is not None else None
                for part in node.path:
                    value = value[part]
            except (ValueError, LookupError, TypeError):
                raise _Diverged(f"the response to {where} has no field {list(node.path)}") from None
            return value
        if isinstance(node, Tag):
            return f"{self.tag}x{node.number}"
        if isinstance(node, Secret):
            return os.environ.get(node.variable) or self.secret_values.setdefault(
                node.variable, "Jy-" + random_secrets.token_urlsafe(12))
        if isinstance(node, Text):
            return "".join(self._text(part) for part in node.parts)
        if isinstance(node, dict):
            return {k: self.value(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [self.value(v) for v in node]
        return node

    def _text(self, part: Any) -> str:
        value = self.value(part)
        return value if isinstance(value, str) else json.dumps(value)

    def send(self, request: ScriptRequest, label: str) -> tuple[httpx.Response | None, RequestRecord]:
        headers = {k: str(self.value(v)) for k, v in request.headers.items()}
        response, record = self.client.send(
            request.method, request.template, path_vars=self.value(request.path_vars),
            json=self.value(request.json) if request.has_body else None,
            params=self.value(request.params) if request.params else None, headers=headers)
        self.sent += record.attempts
        if request.number:
            self.responses[request.number] = response
            self.labels[request.number] = label
        return response, record


def evaluate(check: ScriptCheck, response: httpx.Response, expected: Any) -> CheckRecord:
    """The check on ``response``, as the engine evaluates it in a walk."""
    kind, name = check.record.kind, check.record.name
    if kind == "status":
        return checks.status_check(response, tuple(check.expected), name=name, index=None, source="script")
    if kind == "status_below":
        return checks.status_below_check(response, int(check.expected), name=name, index=None, source="script")
    if kind == "field":
        return checks.field_check(response, split_path(check.record.expected["path"]), check.record.expected["op"],
                                  expected, name=name, index=None, source="script")
    return checks.text_check(response, check.record.expected["path"], expected, name=name, index=None,
                             source="script")


@attrs.frozen
class Recorder:
    """Where a walk reports what it sent, as any journey does (so the store counts every request)."""

    emit: Callable[[Event], None]
    run_id: str
    journey: int
    phase: str = "check"


def walk_script(script: Script, client, *, setup: bool = False, tag: str | None = None,
                recorder: Recorder | None = None) -> ScriptOutcome:
    """Walk the script once (its setup walks too when ``setup``), then its clean-ups; never raises
    for what the target answers. With a ``recorder``, each step and clean-up is emitted as events."""
    walk = _Walk(client, tag or "jr" + uuid.uuid4().hex[:8], {})
    last = len(script.walk_titles) - 1
    steps = [s for s in script.steps if setup or s.walk == last]
    emit = recorder.emit if recorder is not None else (lambda event: None)
    context = dict(run_id=recorder.run_id, journey=recorder.journey) if recorder is not None else {}
    if recorder is not None:
        emit(JourneyStarted(**context, phase=recorder.phase))
    started = time.perf_counter()
    outcome = ScriptOutcome("diverged", "the script has no failing check")
    walked = 0
    cleaned = 0  # steps whose clean-ups ran: a setup walk's run when it ends, as its journey's did
    try:
        for position, step in enumerate(steps):
            if position and step.walk != steps[position - 1].walk:
                _clean_up(walk, steps[cleaned:walked], emit, context)
                cleaned = walked
            walked += 1
            result, records, evaluated = _walk_step(walk, step)
            if recorder is not None:
                emit(StepFinished(**context, phase=recorder.phase, step=attrs.evolve(
                    step.record, requests=tuple(records), checks=tuple(evaluated), cleanups=0,
                    outcome="passed" if result is None else ("failed" if result.verdict == "reproduced"
                                                             else result.verdict.replace(" ", "-")))))
            if result is not None:
                outcome = result
                break
        return attrs.evolve(outcome, requests=walk.sent)
    finally:
        _clean_up(walk, steps[cleaned:walked], emit, context)
        if recorder is not None:
            emit(JourneyFinished(**context, phase=recorder.phase, steps=walked,
                                 outcome="failed" if outcome.verdict == "reproduced" else "passed",
                                 duration_ms=(time.perf_counter() - started) * 1000))


def _walk_step(walk: _Walk, step: ScriptStep
               ) -> tuple[ScriptOutcome | None, list[RequestRecord], list[CheckRecord]]:
    """Send one step's requests and evaluate its checks: the outcome once the walk is decided."""
    prefix = "setup " if step.setup else ""
    where = f"{prefix}step {step.index + 1} ({step.actor} {step.action})"
    records: dict[int, RequestRecord] = {}
    evaluated: list[CheckRecord] = []
    try:
        for request in step.requests:
            _, records[request.number] = walk.send(request, f"{where}: {request.method} {request.template}")
        for check in step.checks:
            if check.role in ("skipped", "model"):
                continue
            response = walk.responses.get(check.response) if check.response is not None else None
            if check.role == "final":
                return _final(walk, step, check, response, records), list(records.values()), evaluated
            if response is None:
                raise _Diverged(f"{where}: no response ({records[check.response].error})")
            result = evaluate(check, response, walk.value(check.expected))
            evaluated.append(result)
            if not result.passed:
                raise _Diverged(f"{where}: {result.message}")
        outcome = _final(walk, step, None, None, records) if step.failing else None
        return outcome, list(records.values()), evaluated
    except _Diverged as diverged:
        return ScriptOutcome("diverged", str(diverged), step), list(records.values()), evaluated


def _final(walk: _Walk, step: ScriptStep, check: ScriptCheck | None, response: httpx.Response | None,
           records: dict[int, RequestRecord]) -> ScriptOutcome:
    record = check.record if check is not None else step.record.failed_check
    if check is not None and check.record.kind in EVALUATED_KINDS and check.response is not None:
        if response is None:
            raise _Diverged(f"the failing step got no response ({records[check.response].error})")
        result = evaluate(check, response, walk.value(check.expected))
        return ScriptOutcome("not reproduced" if result.passed else "reproduced", result.message, step)
    # A condition decided by model code (or an error in it) cannot be evaluated as data: it counts as
    # reproduced when the response it concerns has the status the failing run got.
    number = check.response if check is not None and check.response is not None else \
        (step.requests[-1].number if step.requests else None)
    if number is None:
        return ScriptOutcome("diverged", "the failing step sent no request to compare", step, by_status=True)
    recorded = step.record.requests[[r.number for r in step.requests].index(number)].status
    now = records[number].status
    name = record.name if record is not None else "the failing check"
    if now == recorded:
        return ScriptOutcome("reproduced", f"{name} (status {recorded}, as in the failing run)", step, by_status=True)
    return ScriptOutcome("not reproduced", f"the status is {now}, the failing run got {recorded}", step,
                         by_status=True)


def _clean_up(walk: _Walk, steps: list[ScriptStep], emit: Callable[[Event], None], context: dict) -> None:
    """The clean-ups the walked steps registered, newest first; one whose values the walk never
    got is skipped (what it would remove was not created)."""
    for step in reversed(steps):
        for cleanup in reversed(step.cleanups):
            try:
                response, record = walk.send(cleanup, "clean-up")
            except (_Diverged, httpx.HTTPError, ValueError):
                continue
            if context:
                status = response.status_code if response is not None else None
                emit(CleanupFinished(**context, actor=step.actor, method=record.method, path=record.path,
                                     status=status, ok=status is not None and (status < 300 or status in (404, 410)),
                                     created_by_step=step.index, created_by_action=step.action))
