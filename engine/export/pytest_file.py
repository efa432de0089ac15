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
from typing import Any

from engine.failures.left_behind import describe, left_behind_note
from engine.records import Failure
from engine.redact import redact_text
from engine.export.script import EVALUATED_KINDS, BasicAuth, Ref, Script, ScriptCheck, ScriptRequest, ScriptStep, Secret, Tag, Text, \
    build_script
from engine.http.client import expand_path
from engine.model.checks import EACH

__all__ = ["render_pytest", "reproduction_path", "write_reproduction", "no_file", "TARGET_VARIABLE"]

TARGET_VARIABLE = "JOURNEYS_TARGET"
DEFAULT_TARGET = "http://127.0.0.1:8765"
MIN_CAPTURED_LENGTH = 6


def reproduction_path(directory: str, failure: Failure) -> str:
    action = re.sub(r"\W+", "_", failure.fingerprint.action).strip("_").lower()
    return os.path.join(directory, f"test_{action}_{failure.id}.py")


def no_file(failure: Failure) -> str:
    """Why no reproduction file was written: what walking the exported form showed."""
    check = failure.export_check or "not tried"
    verdict, _, detail = check.partition(": ")
    said = {"not reproduced": "passed at the marked step", "diverged": "could not walk the path"}.get(verdict, verdict)
    return f"{said}" + (f" ({detail})" if detail else "")


def write_reproduction(directory: str, failure: Failure, *, model: str, target: str) -> str:
    os.makedirs(directory, exist_ok=True)
    path = reproduction_path(directory, failure)
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(render_pytest(failure, model=model, target=target))
    os.replace(temporary, path)
    return path


def _test_name(failure: Failure) -> str:
    words = re.sub(r"[^0-9a-zA-Z]+", "_", f"{failure.fingerprint.action} {failure.fingerprint.check}")
    return "test_" + words.strip("_").lower()[:80]


SECRET_HELPER = [
    "def secret(variable):",
    '    """Secrets are never written here: the environment variable, or a random one for this run."""',
    '    return os.environ.get(variable) or _SECRETS.setdefault(variable, "Jy-" + secrets.token_urlsafe(12))',
    "",
    "",
]


def render_pytest(failure: Failure, *, model: str, target: str) -> str:
    script = build_script(failure)
    inner = _body(script)
    tag_lines = [f"    tag{n} = TAG + \"x{n}\"" for n in range(1, script.tags + 1)]
    sessions = ", ".join(f"httpx.Client(base_url=TARGET, timeout=30) as {name}" for name in _clients(script))
    uses_basic = any(isinstance(value, BasicAuth) for value in script.values())
    lines = [
        _header(failure, model=model, target=target),
        *(["import base64"] if uses_basic else []),
        "import os",
        "import secrets",
        "import uuid",
        "from urllib.parse import quote",
        "",
        "import httpx",
        "",
        f'TARGET = os.environ.get("{TARGET_VARIABLE}", "{DEFAULT_TARGET}")',
        'TAG = "jr" + uuid.uuid4().hex[:8]  # fresh test data on every run',
        "_SECRETS = {}",
        "",
        "",
        *SECRET_HELPER,
        *(BASIC_HELPER if uses_basic else []),
        *PATH_HELPER,
        *(CLEANUP_HELPER if any(step.cleanups for step in script.steps) else []),
        *(EACH_HELPER if any("each(" in line for line in inner) else []),
        f"def {_test_name(failure)}():",
        *tag_lines,
        f"    with {sessions}:  # one client per actor: each keeps its own cookies",
        *(f"        {line}" if line else "" for line in inner),
        "",
    ]
    return "\n".join(lines)


BASIC_HELPER = [
    "def basic(user, password):",
    '    """An HTTP Basic Authorization header."""',
    '    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()',
    "",
    "",
]


def _client(actor: str | None) -> str:
    return "client" if actor is None else "client_" + re.sub(r"\W+", "_", actor)


def _clients(script: Script) -> list[str]:
    names = [_client(request.actor) for step in script.steps for request in (*step.requests, *step.cleanups)]
    return list(dict.fromkeys(names)) or ["client"]


EACH_HELPER = [
    "def each(value):",
    '    """The list a `*` in a field path reads every element of (anything else: the field is missing)."""',
    '    if not isinstance(value, list):',
    '        raise LookupError(f"not a list: {value!r:.100}")',
    "    return value",
    "",
    "",
]


PATH_HELPER = [
    "def path(template, **values):",
    '    """The path with each value in its {placeholder}, URL-encoded as journeys sent it."""',
    '    return template.format_map({name: quote(str(value), safe="") for name, value in values.items()})',
    "",
    "",
]


def _body(script: Script) -> list[str]:
    """The steps; with clean-ups, inside ``try``, and the clean-ups the steps registered run in
    ``finally`` (newest first). A setup walk's clean-ups run when that walk ends, as its journey's
    did: what it leaves behind is what they leave."""
    body: list[str] = []
    for number, title in enumerate(script.walk_titles):
        steps = [step for step in script.steps if step.walk == number]
        if len(script.walk_titles) > 1:
            body.append(f"# --- {title}".replace("\n", " "))
        for step in steps:
            body.extend(_render_step(step))
            body.extend(f"cleanups.append(lambda: {_render_request(cleanup)})" for cleanup in step.cleanups)
        if number < len(script.walk_titles) - 1 and any(step.cleanups for step in steps):
            body.append("clean_up(cleanups)  # the setup journey ended: its clean-ups ran")
        if number < len(script.walk_titles) - 1:
            body.append(f"for session in ({', '.join(_clients(script))},):  # the next journey's actors are "
                        "other people")
            body.append("    session.cookies.clear()")
    if not any(step.cleanups for step in script.steps):
        return body
    return ["cleanups = []  # what the steps create is removed again, even when an assert fails", "try:",
            *(f"    {line}" for line in body), "finally:", "    clean_up(cleanups)"]


CLEANUP_HELPER = [
    "def clean_up(cleanups):",
    '    """Run the registered clean-ups, newest first; one that fails must not hide the result."""',
    "    while cleanups:",
    "        try:",
    "            cleanups.pop()()",
    "        except (httpx.HTTPError, LookupError, ValueError):",
    "            pass",
    "",
    "",
]


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
    return ["", *left_behind_note(_docstring_safe(describe(failure.left_behind)), "test", 96,
                                  setup=bool(failure.left_behind.steps))]


def _docstring_safe(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"' * 3, "'" * 3)


def _render_step(step: ScriptStep) -> list[str]:
    """One step's requests and checks, as lines of the test body."""
    note = "  <- fails here" if step.failing else ""
    lines = [f"# {'setup ' if step.setup else ''}step {step.index + 1}: {step.actor} {step.action}{note}"]
    for request in step.requests:
        lines.append(f"r{request.number} = {_render_request(request)}")
    for check in step.checks:
        name = check.record.name
        if check.role == "skipped":
            lines.append(f"# failed in that journey too (a failure already known), not checked: {name!r}"
                         .replace("\n", " "))
        elif check.role == "model" or (check.role == "final" and check.record.kind not in EVALUATED_KINDS):
            lines.append(f"# not exported: {name!r} ({check.record.kind} check in model code)".replace("\n", " "))
        elif check.response is None:
            lines.append(f"# not exported: {name!r} (it looks at no response)".replace("\n", " "))
        else:
            lines.append(_render_check(check))
    return lines


def expression(node: Any) -> str:
    """A script value as a Python expression of the test file."""
    if isinstance(node, Ref):
        return f"r{node.response}.json()" + "".join(f"[{part!r}]" for part in node.path)
    if isinstance(node, Tag):
        return f"tag{node.number}"
    if isinstance(node, Secret):
        return f"secret({node.variable!r})"
    if isinstance(node, BasicAuth):
        return f"basic({expression(node.user)}, {expression(node.password)})"
    if isinstance(node, Text):
        pieces = [repr(part) if isinstance(part, str)
                  else (f"str({expression(part)})" if isinstance(part, Ref) and not part.text else expression(part))
                  for part in node.parts if part != ""]
        return " + ".join(pieces) or "''"
    if isinstance(node, dict):
        return "{" + ", ".join(f"{expression(k)}: {expression(v)}" for k, v in node.items()) + "}"
    if isinstance(node, (list, tuple)):
        return "[" + ", ".join(expression(v) for v in node) + "]"
    return repr(node)


def _render_path(request: ScriptRequest) -> str:
    if not request.path_vars:
        return repr(expand_path(request.template, {}))
    if all(name.isidentifier() for name in request.path_vars):
        values = ", ".join(f"{name}={expression(value)}" for name, value in request.path_vars.items())
    else:
        values = "**" + expression(request.path_vars)
    return f"path({request.template!r}, {values})"


def _render_request(request: ScriptRequest) -> str:
    arguments = [_render_path(request)]
    if request.params:
        arguments.append(f"params={expression(request.params)}")
    if request.has_body:
        arguments.append(f"json={expression(request.json)}")
    if request.headers:
        arguments.append(f"headers={expression(request.headers)}")
    return f"{_client(request.actor)}.{request.method.lower()}({', '.join(arguments)})"


def _render_check(check: ScriptCheck) -> str:
    r = f"r{check.response}"
    record = check.record
    detail = f'f"{_escape_braces(record.name)}: got {{{r}.status_code}} {{{r}.text[:300]}}"'
    if record.kind == "status":
        codes = check.expected
        condition = (f"{r}.status_code == {codes[0]}" if len(codes) == 1
                     else f"{r}.status_code in ({', '.join(map(str, codes))})")
    elif record.kind == "status_below":
        condition = f"{r}.status_code < {check.expected}"
    elif record.kind == "field":
        actual, op, expected = accessor(f"{r}.json()", record.expected["path"]), record.expected["op"], \
            expression(check.expected)
        reversed_op = {"contains": "in", "excludes": "not in"}.get(op)
        condition = f"{expected} {reversed_op} {actual}" if reversed_op else f"{actual} {op} {expected}"
    else:
        path = record.expected["path"]
        where = accessor(f"{r}.json()", path) if path else f"{r}.text"
        condition = f"{expression(check.expected)} in {where}"
    return f"assert {condition}, {detail}"


def accessor(base: str, path: list, depth: int = 0) -> str:
    """The Python expression for a field path: ``r1.json()['items']``; a ``*`` part becomes a list
    comprehension over that list (``[x0['id'] for x0 in each(r1.json()['reviews'])]``)."""
    if EACH in path:
        at = path.index(EACH)
        item = f"x{depth}"
        head = base + "".join(f"[{part!r}]" for part in path[:at])
        return f"[{accessor(item, path[at + 1:], depth + 1)} for {item} in each({head})]"
    return base + "".join(f"[{part!r}]" for part in path)


def _escape_braces(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("{", "{{").replace("}", "}}")
