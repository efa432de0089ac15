"""A failure's path as one script: what replay, the pytest export and the curl export all walk.

``build_script`` turns a failure's recorded steps into requests whose values
are either literals (what the model drew or wrote) or run-time values: a
field of an earlier response (``Ref``, from the links ``engine.http.provenance``
recorded, never from equal values), this run's test-data tag (``Tag``), a
secret read from the environment (``Secret``), or a string put together from
those (``Text``). Each step keeps the checks that passed in the failing run as
*guards* (a step that answers otherwise means the path could not be walked)
and the failing step its *final* check.

``engine.export.script_walk`` walks that script against a target; the
exporters render the same script as Python and as bash, so what the engine
confirmed is what a developer runs.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from engine.records import CheckRecord, Failure, StepRecord
from engine.redact import CREDENTIAL_MARKER, is_secret_name

__all__ = ["Ref", "Tag", "Secret", "Text", "BasicAuth", "ScriptRequest", "ScriptCheck", "ScriptStep", "Script",
           "build_script", "RUN_TIME", "EVALUATED_KINDS", "SECRET_PREFIX"]

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
    """A secret, from ``JOURNEYS_SECRET_<NAME>`` or made up for the run; never written down.

    An actor's credential (``step.credential``) is read from its own variable, the one the
    record names in its place (``${SHOP_ALICE_PASSWORD}``)."""

    name: str
    env: str | None = None

    @property
    def variable(self) -> str:
        return self.env or SECRET_PREFIX + re.sub(r"[^0-9A-Z]+", "_", self.name.upper())


@attrs.frozen
class Text:
    """A string put together at run time from literal pieces and run-time values."""

    parts: tuple


@attrs.frozen
class BasicAuth:
    """An ``Authorization: Basic`` header, made at run time from its user and password."""

    user: Any
    password: Any


RUN_TIME = (Ref, Tag, Secret, Text, BasicAuth)


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
    actor: str | None = None  # whose session (cookies) it goes with
    walk: int = 0             # each walk's actors are other people: sessions start afresh


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

    def values(self):
        """Every run-time value in the script (requests, clean-ups, expectations), nested ones too."""
        def walk(node: Any):
            yield node
            if isinstance(node, Text):
                children = node.parts
            elif isinstance(node, BasicAuth):
                children = (node.user, node.password)
            elif isinstance(node, dict):
                children = tuple(node.values())
            elif isinstance(node, (list, tuple)):
                children = node
            else:
                children = ()
            for child in children:
                yield from walk(child)

        for step in self.steps:
            for request in (*step.requests, *step.cleanups):
                yield from walk([request.path_vars, request.params, request.json, request.headers])
            for check in step.checks:
                yield from walk(check.expected)

    def secrets(self) -> list[Secret]:
        found = {node.name: node for node in self.values() if isinstance(node, Secret)}  # equal by name
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
                                          self.counter, fallback_path=request.path, auth=request.auth,
                                          actor=record.actor))
        cleanups = tuple(self._request(walk, c["method"], c["template"], c.get("path_vars"), None, None,
                                       c.get("headers") or {}, c.get("links") or (), 0, auth=c.get("auth"),
                                       actor=c.get("actor", record.actor))
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
                 headers: dict[str, str], links: Any, number: int, fallback_path: str | None = None,
                 auth: dict | None = None, actor: str | None = None) -> ScriptRequest:
        linked = {tuple(link["at"]): link for link in links}
        if path_vars is None and fallback_path is not None:  # recorded before path variables were kept
            template, path_vars = fallback_path.replace("{", "{{").replace("}", "}}"), {}
        rendered_headers = {}
        for name, value in headers.items():
            rendered = self._value(value, ("headers", name), linked, walk)
            if is_secret_name(name) and not isinstance(rendered, RUN_TIME):  # never a secret's literal
                rendered = Secret(name.lower())
            rendered_headers[name] = rendered
        header = (auth or {}).get("header")
        if header in rendered_headers and not isinstance(rendered_headers[header], RUN_TIME):
            rendered_headers[header] = Secret(header.lower())  # an API key: from the environment
        if auth and "basic" in auth:  # rebuilt from the user and the run's password, never recorded
            name = next((n for n in headers if n.lower() == "authorization"), "Authorization")
            user = self._value(auth["basic"].get("user"), ("auth", "user"), linked, walk)
            rendered_headers[name] = BasicAuth(user=user, password=Secret("password"))
        return ScriptRequest(actor=actor, walk=walk,
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
        """Test-data tags as ``Tag`` and credentials' markers (``${VARIABLE}``) as ``Secret``."""
        marked = "${" in text and CREDENTIAL_MARKER.search(text)
        if not marked and (self.tag_pattern is None or not self.tag_pattern.search(text)):
            return text
        if marked and CREDENTIAL_MARKER.fullmatch(text):
            return _credential(text)
        pattern = (CREDENTIAL_MARKER if self.tag_pattern is None
                   else re.compile(f"{CREDENTIAL_MARKER.pattern}|{self.tag_pattern.pattern}"))
        parts: list[Any] = []
        position = 0
        for match in pattern.finditer(text):
            if match.start() > position:
                parts.append(text[position:match.start()])
            parts.append(_credential(match.group(0)) if match.group(0).startswith("${")
                         else Tag(self.tags[match.group(0)]))
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
    return (isinstance(key, str) and isinstance(value, str) and is_secret_name(key)
            and not CREDENTIAL_MARKER.fullmatch(value))


def _credential(marker: str) -> Secret:
    variable = CREDENTIAL_MARKER.fullmatch(marker).group(1)
    return Secret(variable.lower(), env=variable)


def build_script(failure: Failure) -> Script:
    """The failure's walks (a left-behind setup first, if any) as one script."""
    return _Builder(failure).build()
