"""Walk a failure's script against a target: what replay and the check before a file is written do.

``walk_script`` sends the script (``engine.export.script``) through a
``TargetClient`` and evaluates its checks with the engine's own check
functions: *reproduced*, *not reproduced* or *diverged* (the path could not be
walked), then runs the clean-ups the walked steps registered (a setup walk's
when that walk ends, as its journey's did: what it leaves behind is what they
leave).
"""

from __future__ import annotations

import json
import os
import secrets as random_secrets
import time
import uuid
from typing import Any, Callable

import attrs
import httpx

from engine.events import CleanupFinished, Event, JourneyFinished, JourneyStarted, StepFinished
from engine.http.session import Session, basic_header
from engine.export.script import EVALUATED_KINDS, BasicAuth, Ref, Script, ScriptCheck, ScriptRequest, ScriptStep, Secret, Tag, Text
from engine.model import checks
from engine.model.checks import split_path
from engine.records import CheckRecord, RequestRecord

__all__ = ["ScriptOutcome", "Recorder", "walk_script"]


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
        self.sessions: dict[tuple[int, str | None], Session] = {}  # (walk, actor): its cookies

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
        if isinstance(node, BasicAuth):
            return basic_header(self._text(node.user), self._text(node.password))
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
            params=self.value(request.params) if request.params else None, headers=headers,
            session=self.sessions.setdefault((request.walk, request.actor), Session()))
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
