"""Write a failure's minimal reproduction as a standalone bash script of curl calls.

The script needs bash, curl and python3 (for reading JSON fields out of the
responses; jq is not assumed). It renders the same ``engine.export.script`` that
replay walks and the pytest export writes: like that export it reads the
target from ``JOURNEYS_TARGET``, tags its test data afresh on every run, and
takes every value an earlier response produced (tokens, ids) from that
response at run time, where the engine recorded that the value came from it
(never because two values happen to be equal). No secret is written into it:
a field named like a password comes from ``JOURNEYS_SECRET_<NAME>`` or a random
value made up for the run, and a bearer token from the response that handed it
to that actor.

Each step's passed checks guard the walk (a step that answers differently ends
the script with exit 3: the path could not be walked); the failing check is
evaluated last: exit 1 ``REPRODUCED`` while the bug is there, exit 0 ``NOT
REPRODUCED`` once it is fixed. What the steps created is removed again by the
clean-ups they registered, whatever the outcome, without changing the exit
status.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from engine.export.pytest_file import DEFAULT_TARGET, TARGET_VARIABLE
from engine.failures.left_behind import describe, left_behind_note
from engine.records import CheckRecord, Failure
from engine.redact import SECRET_NAME, redact_text
from engine.export.curl_words import Shell, secret_variable, shell_word, slot_opening
from engine.export.script import EVALUATED_KINDS, Script, ScriptCheck, ScriptRequest, ScriptStep, build_script

__all__ = ["render_curl", "script_name"]

def script_name(failure: Failure) -> str:
    action = re.sub(r"\W+", "_", failure.fingerprint.action).strip("_").lower()
    return f"reproduce_{action}_{failure.id}.sh"


# --- the script ------------------------------------------------------------------------------------
_HELPERS = Path(__file__).with_name("curl_helpers.sh")    # bash: clean-ups, send, capture, checks
_PY_HELPERS = Path(__file__).with_name("curl_helpers.py")  # python3: reading JSON (jq is not assumed)
_PY_END = "PYTHON"


def _helpers(opening: str) -> list[str]:
    """The helpers' text as the script embeds it: the Python half in ``$PY``, then the bash half.

    Both files lose their opening comments (they speak of the engine, not of the script).
    """
    python = _PY_HELPERS.read_text(encoding="utf-8")
    python = python[python.index("import "):].rstrip("\n")
    if _PY_END in python.splitlines():
        raise AssertionError(f"{_PY_HELPERS} holds a line {_PY_END!r}, which would end its here-document")
    bash = _HELPERS.read_text(encoding="utf-8").splitlines()
    while bash and (bash[0].startswith("#") or not bash[0].strip()):
        bash.pop(0)
    return [
        "# python3 reads JSON (jq is not assumed). Slots the exporter left in JSON templates open with",
        "# JOURNEYS_SLOT_OPENING: {{NAME}} takes the text of NAME=value, a whole {{=NAME}} its JSON value.",
        f"export JOURNEYS_SLOT_OPENING={shlex.quote(opening)}",
        f"PY=$(cat <<'{_PY_END}'", python, _PY_END, ")", "",
        *bash,
    ]


def render_curl(failure: Failure, *, model: str, target: str) -> str:
    """The failure's minimal path as a bash script of curl calls (see the module docstring)."""
    script = build_script(failure)
    shell = Shell(slot_opening(script), script.tag_values, {})
    body = _render_walks(script, shell)
    secrets = script.secrets()
    setup = ["TAG=jr$(python3 -c 'import uuid; print(uuid.uuid4().hex[:8])')  # fresh test data on every run"
             ] if script.tags else []
    setup += [f"tag{n}=${{TAG}}x{n}" for n in range(1, script.tags + 1)]
    for secret in secrets:
        setup.append(f"{secret_variable(secret)}=${{{secret.variable}:-$(python3 -c "
                     f"'import secrets; print(\"Jy-\" + secrets.token_urlsafe(12))')}}")
    lines = [
        *_header(failure, model=model, target=target, environment=[secret.variable for secret in secrets]),
        "set -uo pipefail",
        "command -v curl >/dev/null && command -v python3 >/dev/null ||",
        '  { echo "this script needs curl and python3" >&2; exit 2; }',
        f"TARGET=${{{TARGET_VARIABLE}:-{DEFAULT_TARGET}}}",
        "TARGET=${TARGET%/}",
        "export PYTHONIOENCODING=utf-8",
        f"SECRET_NAMES={shlex.quote(SECRET_NAME.pattern)}",
        *_helpers(shell.opening),
        "",
        *setup,
        *body,
        "",
    ]
    return "\n".join(lines)


def _header(failure: Failure, *, model: str, target: str, environment: list[str]) -> list[str]:
    fingerprint = failure.fingerprint
    message = " ".join(redact_text(failure.message).split())
    reads = [f"{TARGET_VARIABLE} (the base URL; default {DEFAULT_TARGET})"]
    reads += [f"{name} (a random value for the run when unset)" for name in environment]
    lines = [
        "#!/usr/bin/env bash",
        "# Reproduction of a failure found by journeys, as curl calls.",
        "#",
        f"# Failure {failure.id}: {fingerprint}",
        f"# Kind: {failure.kind} ({failure.tally})",
        f"# Check: {message}",
        f"# Found by journeys {failure.tool_version}, model {model}, target {target}, seed {failure.seed}, "
        f"journey {failure.found_in_journey}.",
        *_left_behind_note(failure),
        "#",
        "# Needs bash, curl and python3 (python3 reads JSON fields out of the responses). Run it:",
        f"#     {TARGET_VARIABLE}=http://127.0.0.1:8765 bash {script_name(failure)}",
        "# It reads these environment variables:",
        *[f"#     {line}" for line in reads],
        "# No secret is written here: passwords come from JOURNEYS_SECRET_<NAME> or are made up for",
        "# the run, and tokens and ids are taken from the responses that hand them out. Test data",
        "# gets a fresh tag on every run, and what the steps create is removed again when the",
        "# script exits (the clean-ups the steps registered).",
        "#",
        "# Exit status: 1 REPRODUCED (the failing check fails again), 0 NOT REPRODUCED (it passes),",
        "# 3 the path could not be walked (an earlier step answered otherwise than in the failing",
        "# run), 2 curl or python3 is missing.",
        "",
    ]
    return [line.replace("\n", " ").replace("\r", " ") for line in lines]


def _left_behind_note(failure: Failure) -> list[str]:
    if failure.left_behind is None:
        return []
    text = " ".join(describe(failure.left_behind).split())
    return ["#", *(f"# {line}" for line in left_behind_note(text, "script", 94,
                                                            setup=bool(failure.left_behind.steps)))]


def _render_walks(script: Script, shell: Shell) -> list[str]:
    """Every walk's steps in order. A setup walk's clean-ups run when that walk ends, as its
    journey's did (what it leaves behind is what they leave), the others' when the script exits."""
    body: list[str] = []
    several = len(script.walk_titles) > 1
    for number, title in enumerate(script.walk_titles):
        steps = [step for step in script.steps if step.walk == number]
        if several:
            body += ["", f"# --- {title}".replace("\n", " ")]
        for step in steps:
            body += _render_step(step, shell)
        if number < len(script.walk_titles) - 1 and any(step.cleanups for step in steps):
            body += ["", "clean_up  # the setup journey ended: its clean-ups ran"]
    if not script.failing_step.failing:
        body += ["", "diverged 'the script has no failing check'"]
    return body


def _render_step(step: ScriptStep, shell: Shell) -> list[str]:
    """One step: its clean-ups registered first (a step that is walked at all gets them run, as in
    ``walk_script``), its requests, the guards and, on the failing step, the verdict."""
    prefix = "setup " if step.setup else ""
    where = f"{prefix}step {step.index + 1} ({step.actor} {step.action})"
    lines = ["", f"# {prefix}step {step.index + 1}: {step.actor} {step.action}" + ("  <- fails here" if step.failing
                                                                                  else "")]
    for position, cleanup in enumerate(step.cleanups, 1):
        lines += _render_cleanup(cleanup, step, position, shell)
    for request in step.requests:
        shell.responses[request.number] = f"{where}: {request.method} {request.template}"
        label = f"{prefix}step {step.index + 1}: {step.actor} {request.method} {request.template}"
        _flush(lines, shell, _render_request(request, f"r{request.number}", shell.label(label), shell))
    answered: set[int] = set()
    for check in step.checks:
        name = check.record.name
        if check.role == "skipped":
            lines.append(f"# failed in that journey too (a failure already known), not checked: {name!r}"
                         .replace("\n", " "))
        elif check.role == "model":
            lines.append(f"# not checked: {name!r} ({check.record.kind} check in model code)".replace("\n", " "))
        elif check.role == "guard":
            _flush(lines, shell, _answered(check, where, answered, shell) + _render_guard(check, where, shell))
        elif check.role == "final":
            _flush(lines, shell, _render_final(step, check, answered, shell))
    if step.failing and step.final is None:
        lines += _render_by_status(step, None, shell)
    return lines


def _flush(lines: list[str], shell: Shell, new: list[str]) -> None:
    """``new`` after the captures they need (rendering them registered those captures)."""
    lines.extend(shell.pending)
    shell.pending.clear()
    lines.extend(new)


def _render_request(request: ScriptRequest, name: str, label: str, shell: Shell) -> list[str]:
    """The lines that send ``request``: its JSON body written to a file first, if it has one."""
    url = shell.url(request)
    options: list[str] = []
    lines: list[str] = []
    if request.has_body:
        template, words = shell.template(request.json)
        file = f'"$T/{name}.body"'
        if words:
            lines += [f"json_body {file} {' '.join(words)} <<'JSON'", template, "JSON"]
        else:
            lines += [f"cat > {file} <<'JSON'", template, "JSON"]
        options += [f"--data-binary @{file}", "-H " + shlex.quote("Content-Type: application/json")]
    for header, value in request.headers.items():
        if request.has_body and header.lower() == "content-type":
            continue
        options.append("-H " + shell_word([f"{header}: ", *shell.pieces(value)]))
    if request.actor is not None:  # each actor's cookies in a jar of its own (one per walk: other people)
        jar = '"$T/session_%d_%s"' % (request.walk, re.sub(r"\W+", "_", request.actor))
        options += [f"-b {jar}", f"-c {jar}"]
    method = request.method.upper()
    if method == "HEAD":
        options.append("--head")
    lines.append(" ".join(["send", name, label, shlex.quote(method), url, *options]))
    return lines


def _render_cleanup(cleanup: ScriptRequest, step: ScriptStep, position: int, shell: Shell) -> list[str]:
    """A function that sends the clean-up, registered to run when the script exits. It reads its
    values from the saved responses then, and does nothing when one is missing: the request that
    would have created what it removes was not sent, or did not create it."""
    prefix = "setup " if step.setup else ""
    function = f"clean_up_{'setup_' if step.setup else ''}{step.index + 1}_{position}"
    local = shell.for_cleanup()
    label = f"clean-up of {prefix}step {step.index + 1}: {step.actor} {cleanup.method} {cleanup.template}"
    send = _render_request(cleanup, "cleanup", local.label(label), local)
    indent = "" if cleanup.has_body else "  "  # a here-document's end must start its line
    return [f"{function}() {{  # removes what this step creates, when the script exits",
            *(f"{indent}{line}" for line in [*local.pending, *send]),
            "}",
            f"CLEANUPS+=({function})"]


def _answered(check: ScriptCheck, where: str, answered: set[int], shell: Shell) -> list[str]:
    """A check needs the response it looks at: without one the walk ends (once per request)."""
    if check.response in answered:
        return []
    answered.add(check.response)
    return [f"answered r{check.response} {shell.label(where)}"]


def _render_guard(check: ScriptCheck, where: str, shell: Shell) -> list[str]:
    """A check that passed in the failing run: if it does not pass now, the walk went elsewhere."""
    r = f"r{check.response}"
    record = check.record
    context = shell.label(f"{where}: {record.name}")
    if record.kind == "status":
        codes = " ".join(str(code) for code in check.expected)
        expected = " or ".join(str(code) for code in check.expected)
        return [f'one_of "$STATUS_{r}" {codes} ||',
                f'  diverged {context}": expected status {expected}, got $STATUS_{r} $(body_hint {r})"']
    if record.kind == "status_below":
        return [f'[ "$STATUS_{r}" -lt {int(check.expected)} ] ||',
                f'  diverged {context}": expected a status below {int(check.expected)}, '
                f'got $STATUS_{r} $(body_hint {r})"']
    return [f"message=$({_check_call(check, shell, context)}) ||", f'  diverged "$message $(body_hint {r})"']


def _check_call(check: ScriptCheck, shell: Shell, label: str) -> str:
    """The ``check_field`` / ``check_text`` call for a field or text check."""
    r = f"r{check.response}"
    record = check.record
    template, words = shell.template(check.expected)
    if record.kind == "field":
        return " ".join(["check_field", r, label, shlex.quote(json.dumps(record.expected["path"])),
                         shlex.quote(record.expected["op"]), shlex.quote(template), *words])
    return " ".join(["check_text", r, label, shlex.quote(json.dumps(record.expected.get("path"))),
                     shlex.quote(template), *words])


def _render_final(step: ScriptStep, check: ScriptCheck, answered: set[int], shell: Shell) -> list[str]:
    """The failing check, evaluated as the engine does: exit 1 while it fails, 0 once it passes."""
    record = check.record
    if record.kind not in EVALUATED_KINDS or check.response is None:
        return _render_by_status(step, check, shell)
    r = f"r{check.response}"
    lines = ["", "# The failing check: it fails while the bug is there."]
    lines += _answered(check, "the failing step", answered, shell)
    if record.kind in ("status", "status_below"):
        if record.kind == "status":
            codes = " ".join(str(code) for code in check.expected)
            expected = " or ".join(str(code) for code in check.expected)
            condition, words = f'one_of "$STATUS_{r}" {codes}', f"expected status {expected}"
        else:
            condition = f'[ "$STATUS_{r}" -lt {int(check.expected)} ]'
            words = f"expected a status below {int(check.expected)}"
        message = shell.label(f"{record.name}: {words}, got ") + f'"$STATUS_{r} $(body_hint {r})"'
        return lines + [f"if {condition}; then", "  not_reproduced", "else", f"  reproduced {message}", "fi"]
    call = _check_call(check, shell, shell.label(record.name))
    return lines + [f"if message=$({call}); then", "  not_reproduced", "else",
                    f'  reproduced "$message $(body_hint {r})"', "fi"]


def _render_by_status(step: ScriptStep, check: ScriptCheck | None, shell: Shell) -> list[str]:
    """A failing condition decided by model code (or an error in it) cannot be written as data:
    the script counts the failure as reproduced when the response it concerns (the step's last,
    if none) has the status the failing run got, as ``walk_script`` does."""
    record: CheckRecord | None = check.record if check is not None else step.record.failed_check
    number = check.response if check is not None and check.response is not None else \
        (step.requests[-1].number if step.requests else None)
    name = record.name if record is not None else "the failing check"
    kind = record.kind if record is not None else "unknown"
    note = (f"note: {name!r} is a {kind} check in model code that curl cannot evaluate; "
            "it counts as reproduced when the status is the one the failing run got")
    lines = [
        "",
        "# The failing check: it fails while the bug is there.",
        f"# {name!r} is a {kind} check in model code: curl cannot evaluate it. It counts as".replace("\n", " "),
        "# reproduced when the response has the status the failing run got (a heuristic: the",
        "# status may match while the condition holds).",
        f"echo {shell.label(' '.join(note.split()))}",
    ]
    if number is None:
        return lines + ["diverged 'the failing step sent no request to compare'"]
    position = [request.number for request in step.requests].index(number)
    status = step.record.requests[position].status
    recorded = "000" if status is None else str(status)
    shown = "no response" if status is None else recorded
    message = " ".join(redact_text(record.message if record is not None else name).split())
    return lines + [
        f'if [ "$STATUS_r{number}" = {recorded} ]; then',
        f"  reproduced {shell.label(f'{message} (status {shown}, as in the failing run)')}",
        "else",
        f'  not_reproduced "the status is $STATUS_r{number}, the failing run got {shown}"',
        "fi",
    ]
