"""Write a failure's minimal reproduction as a standalone pytest file.

The file needs only httpx and pytest (no journeys import). It reads the target
from ``JOURNEYS_TARGET``, makes its test data unique with a fresh tag on every
run, and takes every value an earlier response produced (tokens, ids) from that
response rather than hard-coding it, so it runs against any environment. Each
step's checks become ``assert`` lines; the failing check is the last one, so the
test fails exactly while the bug is there.
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable

from .left_behind import describe, left_behind_note
from .records import CheckRecord, Failure, RequestRecord, StepRecord
from .redact import MASK, is_secret_name, redact_text

__all__ = ["render_pytest", "reproduction_path", "write_reproduction", "TARGET_VARIABLE"]

TARGET_VARIABLE = "JOURNEYS_TARGET"
DEFAULT_TARGET = "http://127.0.0.1:8765"
MIN_CAPTURED_LENGTH = 6


def reproduction_path(directory: str, failure: Failure) -> str:
    action = re.sub(r"\W+", "_", failure.fingerprint.action).strip("_").lower()
    return os.path.join(directory, f"test_{action}_{failure.id}.py")


def write_reproduction(directory: str, failure: Failure, *, model: str, target: str) -> str:
    os.makedirs(directory, exist_ok=True)
    path = reproduction_path(directory, failure)
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(render_pytest(failure, model=model, target=target))
    os.replace(temporary, path)
    return path


class _Values:
    """Known strings and the Python expressions that produce them in the test.

    Secrets are never written into the file: a field named like a password
    becomes ``secret("password")`` (read from ``JOURNEYS_SECRET_PASSWORD`` or
    made up at random for the run), and a bearer token is taken from the
    response that handed it to that actor, even when the stored trace has it
    masked.
    """

    def __init__(self) -> None:
        self.expressions: dict[str, str] = {}
        self.literals: set[str] = set()  # what the step being rendered drew: sent as written, never linked
        self.tokens: dict[str, str] = {}  # actor -> expression of the latest token it received

    def learn_response(self, variable: str, body: Any, actor: str | None = None) -> None:
        for value, accessor in _string_leaves(body, ""):
            if len(value) >= MIN_CAPTURED_LENGTH:
                self.expressions.setdefault(value, f"{variable}.json(){accessor}")
            if actor is not None and re.fullmatch(r"\['[^']*token[^']*'\]", accessor, re.I):
                self.tokens[actor] = f"{variable}.json(){accessor}"

    def render_headers(self, headers: dict[str, str], actor: str) -> str:
        items = []
        for name, value in headers.items():
            # A stored trace masks the whole value ("***"): the token came from a response anyway.
            scheme = value.partition(" ")[0] if " " in value else "Bearer"
            if is_secret_name(name) and actor in self.tokens:
                rendered = f"{scheme + ' '!r} + {self.tokens[actor]}"
            elif is_secret_name(name) and MASK in value:
                rendered = f"secret({name.lower()!r})"
            else:
                rendered = self.render(value)
            items.append(f"{name!r}: {rendered}")
        return "{" + ", ".join(items) + "}"

    def learn(self, value: str, expression: str) -> None:
        self.expressions.setdefault(value, expression)

    def learn_tags(self, failure: Failure) -> int:
        """Each test-data tag of the reproduction becomes ``tag1``, ``tag2``...; how many there are."""
        tags = [tag for _, steps in failure.walks for step in steps for tag in step.tags]
        for number, tag in enumerate(tags, 1):
            self.learn(tag, f"tag{number}")
        return len(tags)

    def split(self, text: str, usable: Callable[[str], bool] = lambda expression: True
              ) -> list[tuple[bool, str]]:
        """``text`` as (is_expression, piece) pairs: literal runs, and the expression of each
        known value in it (longest first; only expressions ``usable`` accepts)."""
        known = sorted((v for v, expression in self.expressions.items()
                        if v and v in text and v not in self.literals and usable(expression)),
                       key=len, reverse=True)
        if not known:
            return [(False, text)]
        parts: list[tuple[bool, str]] = []
        position = 0
        for match in re.finditer("|".join(re.escape(v) for v in known), text):
            if match.start() > position:
                parts.append((False, text[position:match.start()]))
            parts.append((True, self.expressions[match.group(0)]))
            position = match.end()
        if position < len(text):
            parts.append((False, text[position:]))
        return parts

    def render(self, value: Any) -> str:
        if isinstance(value, str):
            return self._render_string(value)
        if isinstance(value, dict):
            items = ", ".join(f"{self.render(k)}: " + (f"secret({k.lower()!r})" if _is_secret(k, v)
                                                        else self.render(v)) for k, v in value.items())
            return "{" + items + "}"
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(self.render(v) for v in value) + "]"
        return repr(value)

    def _render_string(self, text: str) -> str:
        return " + ".join(piece if is_expression else repr(piece) for is_expression, piece in self.split(text))


def _string_leaves(body: Any, accessor: str):
    if isinstance(body, str):
        yield body, accessor
    elif isinstance(body, dict):
        for key, value in body.items():
            yield from _string_leaves(value, f"{accessor}[{key!r}]")
    elif isinstance(body, list):
        for index, value in enumerate(body):
            yield from _string_leaves(value, f"{accessor}[{index}]")


def drawn_literals(step: StepRecord) -> set[str]:
    """The strings a step drew as data: a response field that happens to be equal is no link."""
    return {value for value, _ in _string_leaves(step.data, "")}


def _test_name(failure: Failure) -> str:
    words = re.sub(r"[^0-9a-zA-Z]+", "_", f"{failure.fingerprint.action} {failure.fingerprint.check}")
    return "test_" + words.strip("_").lower()[:80]


def _is_secret(key: Any, value: Any) -> bool:
    return isinstance(key, str) and isinstance(value, str) and is_secret_name(key)


SECRET_HELPER = [
    "def secret(name):",
    '    """Secrets are never written here: JOURNEYS_SECRET_<NAME>, or a random one for this run."""',
    '    variable = "JOURNEYS_SECRET_" + name.upper().replace("-", "_")',
    '    return os.environ.get(variable) or _SECRETS.setdefault(name, "Jy-" + secrets.token_urlsafe(12))',
    "",
    "",
]


def render_pytest(failure: Failure, *, model: str, target: str) -> str:
    values = _Values()
    body: list[str] = []
    walks = failure.walks
    tags = values.learn_tags(failure)
    counter = 0
    for title, steps in walks:
        if len(walks) > 1:
            body.append(f"        # --- {title}")
        for step in steps:
            counter = _render_step(step, failure, values, body, counter)
    tag_lines = [f"    tag{n} = TAG + \"x{n}\"" for n in range(1, tags + 1)]
    header = _header(failure, model=model, target=target)
    lines = [
        header,
        "import os",
        "import secrets",
        "import uuid",
        "",
        "import httpx",
        "",
        f'TARGET = os.environ.get("{TARGET_VARIABLE}", "{DEFAULT_TARGET}")',
        'TAG = "jr" + uuid.uuid4().hex[:8]  # fresh test data on every run',
        "_SECRETS = {}",
        "",
        "",
        *SECRET_HELPER,
        f"def {_test_name(failure)}():",
        *tag_lines,
        "    with httpx.Client(base_url=TARGET, timeout=30) as client:",
        *body,
        "",
    ]
    return "\n".join(lines)


def _render_step(step: StepRecord, failure: Failure, values: _Values, body: list[str], counter: int) -> int:
    """Append one step's requests and checks to ``body``; the request counter after it."""
    note = "  <- fails here" if step is failure.failing_step else ""
    body.append(f"        # step {step.index + 1}: {step.actor} {step.action}{note}")
    values.literals = drawn_literals(step)
    variables: list[str] = []
    for request in step.requests:
        counter += 1
        variable = f"r{counter}"
        variables.append(variable)
        body.append(f"        {variable} = {_render_request(request, values, step.actor)}")
    for check in step.checks:
        if check.passed and check.source == "invariant":
            continue
        if not check.passed and step is not failure.failing_step:  # a known failure met on the way
            body.append(f"        # failed when found too (a failure already known), not checked: "
                        f"{check.name!r}".replace("\n", " "))
            continue
        body.extend(_render_check(check, variables, values))
    for variable, request in zip(variables, step.requests):
        if request.response_json is not None:
            values.learn_response(variable, request.response_json, step.actor)
    return counter


def _header(failure: Failure, *, model: str, target: str) -> str:
    fingerprint = failure.fingerprint
    message = _docstring_safe(redact_text(failure.message))
    return "\n".join([
        '"""Reproduction of a failure found by journeys.',
        "",
        f"Failure {failure.id}: {fingerprint}".replace("\\", "\\\\"),
        f"Kind: {failure.kind} ({failure.tally})",
        f"Check: {message}",
        *[f"Note: {_docstring_safe(redact_text(note))}" for note in failure.notes],
        f"Found by journeys {failure.tool_version}, model {model}, target {target}, seed {failure.seed}.",
        *_left_behind_note(failure),
        "",
        "Needs only httpx and pytest. Run it against any target:",
        f"    {TARGET_VARIABLE}=http://127.0.0.1:8765 pytest {os.path.basename(reproduction_path('.', failure))}",
        "It fails while the bug is there and passes once it is fixed. No secret is written",
        "here: set JOURNEYS_SECRET_PASSWORD (and so on) to choose them, or random ones are used.",
        '"""',
        "",
    ])


def _left_behind_note(failure: Failure) -> list[str]:
    if failure.left_behind is None:
        return []
    return ["", *left_behind_note(_docstring_safe(describe(failure.left_behind)), "test", 96)]


def _docstring_safe(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"' * 3, "'" * 3)


def _render_request(request: RequestRecord, values: _Values, actor: str) -> str:
    arguments = [values.render(request.path)]
    if request.params:
        arguments.append(f"params={values.render(request.params)}")
    if request.json is not None:
        arguments.append(f"json={values.render(request.json)}")
    if request.headers:
        arguments.append(f"headers={values.render_headers(request.headers, actor)}")
    return f"client.{request.method.lower()}({', '.join(arguments)})"


def _render_check(check: CheckRecord, variables: list[str], values: _Values) -> list[str]:
    if check.response is None or not 0 <= check.response < len(variables):
        return [f"        # not exported: {check.name!r} ({check.kind} check in model code)"]
    r = variables[check.response]
    detail = f'f"{_escape_braces(check.name)}: got {{{r}.status_code}} {{{r}.text[:300]}}"'
    if check.kind == "status":
        codes = check.expected
        condition = (f"{r}.status_code == {codes[0]}" if len(codes) == 1
                     else f"{r}.status_code in ({', '.join(map(str, codes))})")
    elif check.kind == "status_below":
        condition = f"{r}.status_code < {check.expected}"
    elif check.kind == "field":
        accessor = "".join(f"[{part!r}]" for part in check.expected["path"])
        condition = f"{r}.json(){accessor} {check.expected['op']} {values.render(check.expected['value'])}"
    elif check.kind == "text":
        path = check.expected["path"]
        where = f"{r}.json()" + "".join(f"[{part!r}]" for part in path) if path else f"{r}.text"
        condition = f"{check.expected['contains']!r} in {where}"
    else:
        return [f"        # not exported: {check.name!r} ({check.kind} check in model code)"]
    return [f"        assert {condition}, {detail}"]


def _escape_braces(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("{", "{{").replace("}", "}}")
