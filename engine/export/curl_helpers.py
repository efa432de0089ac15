"""The Python half of an exported curl script: reading JSON where the script cannot assume jq.

A curl export embeds this file whole (``curl_helpers.sh`` calls it as ``python3 -c "$PY" NAME
ARGS...``), so it must run on any python3 the reader has: standard library only, no annotations
that need a recent Python. The engine imports it too, so it is linted with the rest and its
functions are tested directly (tests/test_curl_helpers.py).

Each command takes its arguments as the shell passes them and answers by exit status and
standard output, as the bash functions of the same names expect.
"""
import json
import operator
import os
import re
import sys

OPERATORS = {
    "==": operator.eq, "!=": operator.ne, ">=": operator.ge, "<=": operator.le,
    ">": operator.gt, "<": operator.lt,
    "in": lambda a, b: a in b, "not in": lambda a, b: a not in b,
    "contains": lambda a, b: b in a, "excludes": lambda a, b: b not in a,
}
HINT_LENGTH = 160   # characters of a response body quoted when a walk diverges
TEXT_QUOTED = 200   # characters of a text quoted when a text check fails


def fill(value, words, opening):
    """A JSON template with this run's values in its slots.

    ``words`` are ``NAME=value``; a slot ``{{NAME}}`` (``opening`` is the exporter's ``{{``, or a
    longer one when the script's own strings contain that) takes the text of NAME, and a string
    that is a whole ``{{=NAME}}`` takes NAME's JSON value, so a number stays a number.
    """
    values = dict(word.split("=", 1) for word in words)
    slot = re.compile(re.escape(opening) + "(=?)([0-9A-Za-z_]+)}}")

    def walk(item):
        if isinstance(item, str):
            typed = slot.fullmatch(item)
            if typed and typed.group(1):
                return json.loads(values[typed.group(2)])
            return slot.sub(lambda match: values[match.group(2)], item)
        if isinstance(item, dict):
            return dict((key, walk(inner)) for key, inner in item.items())
        if isinstance(item, list):
            return [walk(inner) for inner in item]
        return item

    return walk(value)


def _opening():
    return os.environ.get("JOURNEYS_SLOT_OPENING", "{{")


def _read_json(path):
    with open(path, "rb") as body:
        return json.loads(body.read().decode("utf-8"))


def _at(value, path):
    """The value at ``path``; a ``*`` part maps the rest over a list (an element without it: LookupError)."""
    for position, part in enumerate(path):
        if part == "*":
            if not isinstance(value, list):
                raise LookupError("not a list")
            return [_at(item, path[position + 1:]) for item in value]
        value = value[part]
    return value


def mask(value, secret):
    """A JSON value with the scalar fields whose names match ``secret`` replaced by ``***``."""
    if isinstance(value, dict):
        return dict((key, "***" if secret.search(key) and not isinstance(inner, (dict, list))
                     else mask(inner, secret)) for key, inner in value.items())
    if isinstance(value, list):
        return [mask(inner, secret) for inner in value]
    return value


def body_hint(body_file, secret_names):
    """The start of a response body, secret-looking fields masked: prints ``(body: ...)``."""
    with open(body_file, "rb") as body:
        raw = body.read().decode("utf-8", "replace")
    secret = re.compile(secret_names, re.I)
    try:
        raw = json.dumps(mask(json.loads(raw), secret), ensure_ascii=False)
    except ValueError:
        raw = re.sub(r"(Bearer|Basic)\s+\S+", r"\1 ***", raw)
    raw = " ".join(raw.split())
    hint = "(body: " + raw[:HINT_LENGTH] + ("..." if len(raw) > HINT_LENGTH else "") + ")"
    print(hint if raw else "(empty body)")
    return 0


def fetch(body_file, path):
    """A value from a response body at ``path`` (a JSON list): a string as it is, anything else
    as JSON text, followed by a dot so the shell keeps trailing newlines. Exit 1: no such field."""
    try:
        value = _at(_read_json(body_file), json.loads(path))
    except (OSError, ValueError, LookupError, TypeError):
        return 1
    value = value if isinstance(value, str) else json.dumps(value)
    sys.stdout.buffer.write(value.encode("utf-8", "surrogateescape") + b".")
    return 0


def path_quote(value):
    """A path value URL-encoded as journeys sends it (every reserved character escaped)."""
    from urllib.parse import quote
    sys.stdout.write(quote(value.encode("utf-8", "surrogateescape"), safe=""))
    return 0


def json_body(out_file, *words):
    """The JSON template on standard input, its slots filled in, written to ``out_file``."""
    template = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    with open(out_file, "w", encoding="utf-8") as out:
        json.dump(fill(template, words, _opening()), out)
    return 0


def check_field(body_file, label, path, op, expected, *words):
    """The field check as journeys evaluates it: exit 0 passed, 1 failed (with a message)."""
    path = json.loads(path)
    expected = fill(json.loads(expected), words, _opening())
    dotted = ".".join(str(part) for part in path)
    try:
        actual = _at(_read_json(body_file), path)
    except (ValueError, LookupError, TypeError):
        print("%s: field %r is missing from the response" % (label, dotted))
        return 1
    try:
        passed = bool(OPERATORS[op](actual, expected))
    except TypeError:
        passed = False
    if not passed:
        print("%s: expected %s %s %r, got %r" % (label, dotted, op, expected, actual))
    return 0 if passed else 1


def check_text(body_file, label, path, contains, *words):
    """The text is in the field (``path`` null: in the whole body): exit 0 passed, 1 failed."""
    path = json.loads(path)
    contains = fill(json.loads(contains), words, _opening())
    with open(body_file, "rb") as body:
        raw = body.read().decode("utf-8", "replace")
    where = ".".join(str(part) for part in path) if path else "the body"
    if path:
        try:
            actual = _at(json.loads(raw), path)
        except (ValueError, LookupError, TypeError):
            print("%s: field %r is missing from the response" % (label, where))
            return 1
        raw = actual if isinstance(actual, str) else json.dumps(actual, ensure_ascii=False)
    if contains not in raw:
        print("%s: expected %s to contain %r, got %r" % (label, where, contains, raw[:TEXT_QUOTED]))
        return 1
    return 0


def basic(user, password):
    """base64 of ``user:password``, for an HTTP Basic Authorization header."""
    import base64
    sys.stdout.write(base64.b64encode((user + ":" + password).encode("utf-8", "surrogateescape")).decode("ascii"))
    return 0


COMMANDS = {
    "body_hint": body_hint, "fetch": fetch, "path_quote": path_quote, "json_body": json_body,
    "check_field": check_field, "check_text": check_text, "basic": basic,
}


def main(argv):
    """``python3 -c "$PY" COMMAND ARGS...`` as the script calls it: the command's exit status."""
    return COMMANDS[argv[0]](*argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
