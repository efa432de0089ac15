"""Write a failure's minimal reproduction as a standalone bash script of curl calls.

The script needs bash, curl and python3 (for reading JSON fields out of the
responses; jq is not assumed). Like the pytest export it reads the target from
``JOURNEYS_TARGET``, tags its test data afresh on every run, and takes every
value an earlier response produced (tokens, ids) from that response at run
time. No secret is written into it: a field named like a password comes from
``JOURNEYS_SECRET_<NAME>`` or a random value made up for the run, and a bearer
token from the response that handed it to that actor.

Each step's passed checks guard the walk (a step that answers differently ends
the script with exit 3: the path could not be walked); the failing check is
evaluated last: exit 1 ``REPRODUCED`` while the bug is there, exit 0 ``NOT
REPRODUCED`` once it is fixed.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
from typing import Any
from urllib.parse import quote, urlencode

from .export_pytest import DEFAULT_TARGET, TARGET_VARIABLE, _is_secret, _Values, drawn_literals
from .left_behind import describe, left_behind_note
from .records import CheckRecord, Failure, RequestRecord, StepRecord
from .redact import MASK, SECRET_NAME, is_secret_name, redact_text

__all__ = ["render_curl", "script_name"]

SECRET_PREFIX = "JOURNEYS_SECRET_"
_RESPONSE = re.compile(r"(r\d+)\.json\(\)(.*)")  # how _Values names a value from a response
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"  # already-encoded paths stay as they are


def script_name(failure: Failure) -> str:
    action = re.sub(r"\W+", "_", failure.fingerprint.action).strip("_").lower()
    return f"reproduce_{action}_{failure.id}.sh"


class _Var(str):
    """A piece of a rendered value that the script knows only at run time: a shell variable name."""


class _ShellValues(_Values):
    """The pytest exporter's known values, rendered as shell words instead of Python expressions.

    ``_Values`` learns which strings came from which response (``r1.json()['token']``) or
    tag (``tag1``); here each such expression becomes a shell variable, captured from the
    saved response body right before its first use.
    """

    def __init__(self, opening: str) -> None:
        super().__init__()
        self.opening = opening
        self.variables: dict[str, str] = {}  # expression -> shell variable
        self.pending: list[str] = []  # capture lines the next request needs first
        self.secrets: dict[str, str] = {}  # shell variable -> environment variable
        self.describe: dict[str, str] = {}  # response variable (r1) -> "step 1 (POST /api/signup)"

    # --- pieces: literal text and run-time variables ------------------------------------------
    def pieces(self, text: str, *, tags_only: bool = False) -> list[str]:
        usable = (lambda expression: not _RESPONSE.match(expression)) if tags_only else (lambda expression: True)
        return [self.variable(piece) if is_expression else piece
                for is_expression, piece in self.split(text, usable)]

    def variable(self, expression: str) -> _Var:
        """The shell variable holding ``expression``'s value, captured on first use."""
        if expression in self.variables:
            return _Var(self.variables[expression])
        match = _RESPONSE.fullmatch(expression)
        if match is None:  # a tag: defined at the top of the script
            name = expression
        else:
            response, path = match.group(1), _accessor_path(match.group(2))
            readable = re.sub(r"[^0-9A-Za-z]+", "_", "_".join(map(str, path))).strip("_")[:40]
            name = f"{response}_{readable}" if readable else response + "_value"
            while name in self.variables.values():
                name += "_"
            self.pending.append(f"capture {name} {response} {shlex.quote(json.dumps(path))} "
                                f"{shlex.quote(self.describe.get(response, response))}")
        self.variables[expression] = name
        return _Var(name)

    def secret(self, name: str) -> _Var:
        upper = re.sub(r"[^0-9A-Z]+", "_", name.upper())
        variable = "SECRET_" + upper
        self.secrets[variable] = SECRET_PREFIX + upper
        return _Var(variable)

    # --- shell words ----------------------------------------------------------------------------
    def word(self, value: str) -> str:
        """``value`` as one shell word: quoted literals next to ``"${variable}"`` expansions."""
        return _word(self.pieces(value))

    def label(self, text: str) -> str:
        """A printed label: its test tags are this run's, but it never needs a captured value."""
        return _word(self.pieces(text, tags_only=True))

    def header_word(self, name: str, value: str, actor: str) -> str:
        scheme = value.partition(" ")[0] if " " in value else "Bearer"
        if is_secret_name(name) and actor in self.tokens:
            pieces: list[str] = [f"{name}: {scheme} ", self.variable(self.tokens[actor])]
        elif is_secret_name(name) and MASK in value:
            pieces = [f"{name}: ", self.secret(name)]
        else:
            pieces = [f"{name}: ", *self.pieces(value)]
        return _word(pieces)

    def path_word(self, path: str) -> str:
        pieces = self.pieces(path)
        return _word([p if isinstance(p, _Var) else quote(p, safe=_PATH_SAFE) for p in pieces])

    # --- JSON templates -------------------------------------------------------------------------
    def template(self, value: Any) -> tuple[str, list[str]]:
        """``value`` as JSON text whose run-time parts are slots (``{{tag1}}``), and the
        ``NAME="$NAME"`` words that fill them."""
        words: list[str] = []

        def fill(pieces: list[str]) -> str:
            out = []
            for piece in pieces:
                if isinstance(piece, _Var):
                    word = f'{piece}="${{{piece}}}"'
                    if word not in words:
                        words.append(word)
                    out.append(f"{self.opening}{piece}}}}}")
                else:
                    out.append(piece)
            return "".join(out)

        def walk(item: Any) -> Any:
            if isinstance(item, str):
                return fill(self.pieces(item))
            if isinstance(item, dict):
                return {walk(k): (fill([self.secret(k.lower())]) if _is_secret(k, v) else walk(v))
                        for k, v in item.items()}
            if isinstance(item, (list, tuple)):
                return [walk(v) for v in item]
            return item

        return _json_line(walk(value)), words


def _word(pieces: list[str]) -> str:
    words = [f'"${{{p}}}"' if isinstance(p, _Var) else shlex.quote(p) for p in pieces if p]
    return "".join(words) or "''"


def _json_line(value: Any) -> str:
    """One line of JSON: readable unicode, unless a character would be invisible or confusing."""
    text = json.dumps(value, ensure_ascii=False)
    return text if text.isprintable() else json.dumps(value)


def _accessor_path(accessor: str) -> list[Any]:
    """``"['items'][0]['id']"`` (from ``_string_leaves``) -> ``["items", 0, "id"]``."""
    node = ast.parse("_" + accessor, mode="eval").body
    path: list[Any] = []
    while isinstance(node, ast.Subscript):
        path.append(ast.literal_eval(node.slice))
        node = node.value
    return path[::-1]


def _slot_opening(failure: Failure) -> str:
    """How a slot for a run-time value opens in a JSON template: ``{{``, unless a recorded
    string contains that (then ``{{jy:``, ``{{jyjy:``...), so every slot is the exporter's."""
    recorded = json.dumps([[[[r.json, r.params, r.response_json] for r in step.requests],
                            [c.expected for c in step.checks]] for _, steps in failure.walks for step in steps],
                          default=str, ensure_ascii=False)
    opening, repeat = "{{", 0
    while opening in recorded:
        repeat += 1
        opening = "{{" + "jy" * repeat + ":"
    return opening


# --- the script ------------------------------------------------------------------------------------
HELPERS = r'''
T=$(mktemp -d "${TMPDIR:-/tmp}/journeys-curl.XXXXXX") || exit 3
trap 'rm -rf "$T"' EXIT
# python3 reads JSON (jq is not assumed). FILL puts this run's values (tags, captured ids,
# secrets) into a JSON template where the exporter left a slot: {{NAME}} takes NAME=value.
FILL='import json, re, sys
def fill(value, words):
    if isinstance(value, str):
        values = dict(word.split("=", 1) for word in words)
        return re.sub(re.escape(OPENING) + "([0-9A-Za-z_]+)}}", lambda m: values[m.group(1)], value)
    if isinstance(value, dict):
        return dict((fill(k, words), fill(v, words)) for k, v in value.items())
    if isinstance(value, list):
        return [fill(v, words) for v in value]
    return value
'
FILL="OPENING = '__OPENING__'
$FILL"

diverged() {  # the path could not be walked: a step answered otherwise than in the failing run
  echo "NOT WALKED: $1; the path could not be walked" >&2
  exit 3
}

# send NAME LABEL METHOD URL [curl options]: the body goes to $T/NAME.json, the status to STATUS_NAME.
send() {
  local name=$1 label=$2 method=$3 url=$4 code
  shift 4
  : > "$T/$name.json"
  code=$(curl -sS --max-time 30 -X "$method" -o "$T/$name.json" -w '%{http_code}' "$@" "$url") || code=000
  printf -v "STATUS_$name" '%s' "${code:-000}"
  if [ "${code:-000}" = 000 ]; then echo "$label -> no response"; else echo "$label -> $code"; fi
}

one_of() {  # one_of STATUS CODE...: is STATUS one of the codes?
  local status=$1 code
  shift
  for code in "$@"; do [ "$status" = "$code" ] && return 0; done
  return 1
}

body_hint() {  # the start of NAME's response body, with secret-looking fields masked
  python3 -c 'import json, re, sys
raw = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
secret = re.compile(sys.argv[2], re.I)
def mask(v):
    if isinstance(v, dict):
        return dict((k, "***" if secret.search(k) and not isinstance(v[k], (dict, list)) else mask(v[k])) for k in v)
    return [mask(x) for x in v] if isinstance(v, list) else v
try:
    raw = json.dumps(mask(json.loads(raw)), ensure_ascii=False)
except ValueError:
    raw = re.sub(r"(Bearer|Basic)\s+\S+", r"\1 ***", raw)
raw = " ".join(raw.split())
print("(body: " + raw[:160] + ("..." if len(raw) > 160 else "") + ")" if raw else "(empty body)")' "$T/$1.json" "$SECRET_NAMES"
}

# capture VARIABLE NAME PATH WHERE: a string from NAME's response body, at PATH (a JSON list).
capture() {
  local value
  value=$(python3 -c 'import json, sys
try:
    value = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
    for part in json.loads(sys.argv[2]):
        value = value[part]
except (ValueError, LookupError, TypeError):
    sys.exit(1)
value = value if isinstance(value, str) else json.dumps(value)
sys.stdout.buffer.write(value.encode("utf-8", "surrogateescape") + b".")' "$T/$2.json" "$3") ||
    diverged "the response to $4 has no field $3 $(body_hint "$2")"
  printf -v "$1" '%s' "${value%.}"
}

# json_body FILE NAME=VALUE...: the JSON template on standard input, its slots filled in.
json_body() {
  local file=$1
  shift
  python3 -c "$FILL"'
template = json.loads(sys.stdin.buffer.read().decode("utf-8"))
with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump(fill(template, sys.argv[2:]), out)' "$file" "$@"
}

# check_field NAME LABEL PATH OP EXPECTED NAME=VALUE...: the field check, as journeys evaluates it.
check_field() {
  python3 -c "$FILL"'
import operator
ops = {"==": operator.eq, "!=": operator.ne, ">=": operator.ge, "<=": operator.le, ">": operator.gt,
       "<": operator.lt, "in": lambda a, b: a in b, "not in": lambda a, b: a not in b}
label, path, op = sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
expected = fill(json.loads(sys.argv[5]), sys.argv[6:])
dotted = ".".join(str(p) for p in path)
try:
    actual = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
    for part in path:
        actual = actual[part]
except (ValueError, LookupError, TypeError):
    print("%s: field %r is missing from the response" % (label, dotted))
    sys.exit(1)
try:
    passed = bool(ops[op](actual, expected))
except TypeError:
    passed = False
if not passed:
    print("%s: expected %s %s %r, got %r" % (label, dotted, op, expected, actual))
sys.exit(0 if passed else 1)' "$T/$1.json" "${@:2}"
}

# check_text NAME LABEL PATH CONTAINS NAME=VALUE...: the text is in the field (PATH null: the whole body).
check_text() {
  python3 -c "$FILL"'
label, path = sys.argv[2], json.loads(sys.argv[3])
contains = fill(json.loads(sys.argv[4]), sys.argv[5:])
raw = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
where = ".".join(str(p) for p in path) if path else "the body"
if path:
    try:
        actual = json.loads(raw)
        for part in path:
            actual = actual[part]
    except (ValueError, LookupError, TypeError):
        print("%s: field %r is missing from the response" % (label, where))
        sys.exit(1)
    raw = actual if isinstance(actual, str) else json.dumps(actual, ensure_ascii=False)
if contains not in raw:
    print("%s: expected %s to contain %r, got %r" % (label, where, contains, raw[:200]))
    sys.exit(1)' "$T/$1.json" "${@:2}"
}

reproduced() { echo "REPRODUCED: $1"; exit 1; }
not_reproduced() { echo "NOT REPRODUCED: ${1:-the last check passed}"; exit 0; }
'''


def render_curl(failure: Failure, *, model: str, target: str) -> str:
    """The failure's minimal path as a bash script of curl calls (see the module docstring)."""
    values = _ShellValues(_slot_opening(failure))
    walks = failure.walks
    tags = values.learn_tags(failure)
    body: list[str] = []
    counter = 0
    for number, (title, steps) in enumerate(walks, 1):
        prefix = "setup " if number < len(walks) else ""
        if len(walks) > 1:
            body += ["", f"# --- {title}".replace("\n", " ")]
        for step in steps:
            counter = _render_step(step, failure, values, body, counter, prefix)
    setup = ["TAG=jr$(python3 -c 'import uuid; print(uuid.uuid4().hex[:8])')  # fresh test data on every run"
             ] if tags else []
    setup += [f"tag{n}=${{TAG}}x{n}" for n in range(1, tags + 1)]
    for variable, environment in sorted(values.secrets.items()):
        setup.append(f"{variable}=${{{environment}:-$(python3 -c "
                     f"'import secrets; print(\"Jy-\" + secrets.token_urlsafe(12))')}}")
    lines = [
        *_header(failure, model=model, target=target, environment=sorted(values.secrets.values())),
        "set -uo pipefail",
        "command -v curl >/dev/null && command -v python3 >/dev/null ||",
        '  { echo "this script needs curl and python3" >&2; exit 2; }',
        f"TARGET=${{{TARGET_VARIABLE}:-{DEFAULT_TARGET}}}",
        "TARGET=${TARGET%/}",
        "export PYTHONIOENCODING=utf-8",
        f"SECRET_NAMES={shlex.quote(SECRET_NAME.pattern)}",
        HELPERS.replace("__OPENING__", values.opening).strip("\n"),
        "",
        *setup,
        *body,
        "",
    ]
    return "\n".join(lines)


def _left_behind_note(failure: Failure) -> list[str]:
    if failure.left_behind is None:
        return []
    text = " ".join(describe(failure.left_behind).split())
    return ["#", *(f"# {line}" for line in left_behind_note(text, "script", 94))]


def _render_step(step: StepRecord, failure: Failure, values: _ShellValues, body: list[str], counter: int,
                 prefix: str) -> int:
    """Append one step's requests, guards and (last) the failing check; the request counter after it."""
    failing = step is failure.failing_step
    where = f"{prefix}step {step.index + 1} ({step.actor} {step.action})"
    body += ["", f"# {prefix}step {step.index + 1}: {step.actor} {step.action}" + ("  <- fails here" if failing else "")]
    variables: list[str] = []
    values.literals = drawn_literals(step)
    for request in step.requests:
        counter += 1
        variable = f"r{counter}"
        variables.append(variable)
        values.describe[variable] = f"{prefix}step {step.index + 1} ({request.method} {request.template})"
        _flush(body, values, _render_request(request, variable, step, values, prefix))
    final = step.failed_check if failing else None
    for check in step.checks:
        if check is final:
            break
        if check.passed and check.source == "invariant":
            continue
        if not check.passed:  # a known failure met on the way, or in a setup journey
            body.append(f"# failed in that journey too, not checked: {check.name!r}".replace("\n", " "))
            continue
        _flush(body, values, _render_guard(check, variables, values, where))
    if failing:
        _flush(body, values, _render_final(final, step, variables, values))
    for variable, request in zip(variables, step.requests):
        if request.response_json is not None:
            values.learn_response(variable, request.response_json, step.actor)
    return counter


def _flush(body: list[str], values: _ShellValues, lines: list[str]) -> None:
    """``lines`` after the captures they need (rendering them registered those captures)."""
    body.extend(values.pending)
    values.pending.clear()
    body.extend(lines)


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
        "# gets a fresh tag on every run.",
        "#",
        "# Exit status: 1 REPRODUCED (the failing check fails again), 0 NOT REPRODUCED (it passes),",
        "# 3 the path could not be walked (an earlier step answered otherwise than in the failing",
        "# run), 2 curl or python3 is missing.",
        "",
    ]
    return [line.replace("\n", " ").replace("\r", " ") for line in lines]


def _render_request(request: RequestRecord, variable: str, step: StepRecord, values: _ShellValues,
                    prefix: str) -> list[str]:
    label = f"{prefix}step {step.index + 1}: {step.actor} {request.method} {request.template}"
    url = '"$TARGET"' + values.path_word(request.path)
    if request.params:
        url += _render_query(request.params, values)
    options: list[str] = []
    lines: list[str] = []
    if request.json is not None:
        template, words = values.template(request.json)
        file = f'"$T/{variable}.body"'
        if words:
            lines += [f"json_body {file} {' '.join(words)} <<'JSON'", template, "JSON"]
        else:
            lines += [f"cat > {file} <<'JSON'", template, "JSON"]
        options += [f"--data-binary @{file}", shlex.quote("Content-Type: application/json")]
        options[-1] = "-H " + options[-1]
    for name, value in request.headers.items():
        if request.json is not None and name.lower() == "content-type":
            continue
        options.append("-H " + values.header_word(name, value, step.actor))
    method = request.method.upper()
    if method == "HEAD":
        options.append("--head")
    lines.append(" ".join(["send", variable, shlex.quote(label), shlex.quote(method), url, *options]))
    return lines


def _render_query(params: dict[str, Any], values: _ShellValues) -> str:
    pairs = []
    for key, value in params.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            text = "true" if item is True else "false" if item is False else "" if item is None else str(item)
            pairs.append((str(key), text))
    if all(len(values.pieces(v)) == 1 and not isinstance(values.pieces(v)[0], _Var) for _, v in pairs):
        return shlex.quote("?" + urlencode(pairs))
    # A value known only at run time: python3 encodes the query string.
    words = " ".join(f"{shlex.quote(k)} {values.word(v)}" for k, v in pairs)
    return ('"?$(python3 -c \'import sys; from urllib.parse import urlencode; '
            'a = sys.argv[1:]; print(urlencode(list(zip(a[::2], a[1::2]))))\' ' + words + ')"')


def _check_subject(check: CheckRecord, variables: list[str]) -> str | None:
    if check.response is None or not 0 <= check.response < len(variables):
        return None
    return variables[check.response]


def _render_guard(check: CheckRecord, variables: list[str], values: _ShellValues, where: str) -> list[str]:
    """A check that passed in the failing run: if it does not pass now, the walk went elsewhere."""
    r = _check_subject(check, variables)
    if r is None or check.kind not in ("status", "status_below", "field", "text"):
        return [f"# not checked: {check.name!r} ({check.kind} check in model code)".replace("\n", " ")]
    context = values.label(f"{where}: {check.name}")
    if check.kind == "status":
        codes = " ".join(str(c) for c in check.expected)
        expected = " or ".join(str(c) for c in check.expected)
        return [f'one_of "$STATUS_{r}" {codes} ||',
                f'  diverged {context}": expected status {expected}, got $STATUS_{r} $(body_hint {r})"']
    if check.kind == "status_below":
        return [f'[ "$STATUS_{r}" != 000 ] && [ "$STATUS_{r}" -lt {int(check.expected)} ] ||',
                f'  diverged {context}": expected a status below {int(check.expected)}, '
                f'got $STATUS_{r} $(body_hint {r})"']
    call = _check_call(check, r, values, f"{where}: {check.name}")
    return [f"message=$({call}) ||", f'  diverged "$message $(body_hint {r})"']


def _check_call(check: CheckRecord, r: str, values: _ShellValues, label: str) -> str:
    name = values.label(label)
    if check.kind == "field":
        template, words = values.template(check.expected["value"])
        return " ".join(["check_field", r, name, shlex.quote(json.dumps(check.expected["path"])),
                         shlex.quote(check.expected["op"]), shlex.quote(template), *words])
    template, words = values.template(check.expected["contains"])
    return " ".join(["check_text", r, name, shlex.quote(json.dumps(check.expected.get("path"))),
                     shlex.quote(template), *words])


def _render_final(check: CheckRecord | None, step: StepRecord, variables: list[str],
                  values: _ShellValues) -> list[str]:
    lines = ["", "# The failing check: it fails while the bug is there."]
    r = _check_subject(check, variables) if check is not None else None
    if check is not None and r is not None and check.kind in ("status", "status_below"):
        if check.kind == "status":
            codes = " ".join(str(c) for c in check.expected)
            expected = " or ".join(str(c) for c in check.expected)
            condition, words = f'one_of "$STATUS_{r}" {codes}', f"expected status {expected}"
        else:
            condition = f'[ "$STATUS_{r}" != 000 ] && [ "$STATUS_{r}" -lt {int(check.expected)} ]'
            words = f"expected a status below {int(check.expected)}"
        message = values.label(f"{check.name}: {words}, got ") + f'"$STATUS_{r} $(body_hint {r})"'
        return lines + [f"if {condition}; then", "  not_reproduced", "else",
                        f"  reproduced {message}", "fi"]
    if check is not None and r is not None and check.kind in ("field", "text"):
        call = _check_call(check, r, values, check.name)
        return lines + [f"if message=$({call}); then", "  not_reproduced", "else",
                        f'  reproduced "$message $(body_hint {r})"', "fi"]
    # A condition decided by model code (or an error in it) cannot be written as data: the script
    # counts the failure as reproduced when the response has the status the failing run got.
    index = r if r is not None else (variables[-1] if variables else None)
    request = step.requests[variables.index(index)] if index is not None else None
    name = check.name if check is not None else "the failing check"
    kind = check.kind if check is not None else "unknown"
    note = (f"note: {name!r} is a {kind} check in model code that curl cannot evaluate; "
            "it counts as reproduced when the status is the one the failing run got")
    lines += [
        f"# {name!r} is a {kind} check in model code: curl cannot evaluate it. It counts as".replace("\n", " "),
        "# reproduced when the response has the status the failing run got (a heuristic: the",
        "# status may match while the condition holds).",
        f"echo {shlex.quote(' '.join(note.split()))}",
    ]
    if request is None:
        return lines + ["diverged 'the failing step sent no request to compare'"]
    recorded = "000" if request.status is None else str(request.status)
    shown = "no response" if request.status is None else recorded
    message = " ".join(redact_text(check.message if check is not None else name).split())
    return lines + [
        f'if [ "$STATUS_{index}" = {recorded} ]; then',
        f"  reproduced {values.label(f'{message} (status {shown}, as in the failing run)')}",
        "else",
        f'  not_reproduced "the status is $STATUS_{index}, the failing run got {shown}"',
        "fi",
    ]
