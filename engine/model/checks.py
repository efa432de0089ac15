"""Checks a model makes on responses, kept as data so they can be exported.

A check is evaluated once, recorded as a ``CheckRecord`` and, when it fails,
raised as ``CheckFailed``. Status and field checks carry their expectation as
plain data, which is what lets the pytest exporter write them out again as
``assert`` lines that need nothing but httpx.
"""

from __future__ import annotations

import json
import operator
from typing import Any, Callable

import httpx

from engine.records import CheckRecord

__all__ = ["CheckFailed", "OPERATORS", "EACH", "status_check", "status_below_check", "field_check",
           "text_check", "condition_check", "read_field"]

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
    "contains": lambda a, b: b in a,
    "excludes": lambda a, b: b not in a,
}
EACH = "*"  # a path part: every element of the list there (``"reviews.*.id"``: the reviews' ids)

_MISSING = object()
QUOTED = 300  # characters of a field's value quoted in a failed check's message


class CheckFailed(Exception):
    """A check on a response did not hold."""

    def __init__(self, record: CheckRecord) -> None:
        super().__init__(record.message)
        self.record = record


def split_path(path: str | list | tuple) -> list[str | int]:
    """``"items.0.id"`` -> ``["items", 0, "id"]``."""
    parts = path.split(".") if isinstance(path, str) else list(path)
    return [int(p) if isinstance(p, str) and p.isdigit() else p for p in parts]


def read_field(response: httpx.Response, path: list[str | int]) -> Any:
    """The value at ``path`` in the JSON body, or ``_MISSING``."""
    try:
        value: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _MISSING
    return _at(value, path)


def _at(value: Any, path: list[str | int]) -> Any:
    """``EACH`` maps the rest of the path over a list; an element without it makes the field missing."""
    for position, part in enumerate(path):
        if part == EACH:
            if not isinstance(value, list):
                return _MISSING
            items = [_at(item, path[position + 1:]) for item in value]
            return _MISSING if any(item is _MISSING for item in items) else items
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return value


def status_check(response: httpx.Response, codes: tuple[int, ...], *, name: str | None,
                 index: int | None, source: str) -> CheckRecord:
    expected = sorted(codes)
    label = name or (f"status is {expected[0]}" if len(expected) == 1
                     else "status in " + ", ".join(map(str, expected)))
    passed = response.status_code in expected
    message = (f"{label}: expected status {' or '.join(map(str, expected))}, "
               f"got {response.status_code}")
    if not passed:
        message += f" {_body_hint(response)}"
    return CheckRecord(name=label, kind="status", passed=passed, expected=expected,
                       actual=response.status_code, message=message, response=index, source=source)


def status_below_check(response: httpx.Response, limit: int, *, name: str | None,
                       index: int | None, source: str) -> CheckRecord:
    label = name or f"status below {limit}"
    passed = response.status_code < limit
    message = f"{label}: expected a status below {limit}, got {response.status_code}"
    if not passed:
        message += f" {_body_hint(response)}"
    return CheckRecord(name=label, kind="status_below", passed=passed, expected=limit,
                       actual=response.status_code, message=message, response=index, source=source)


def field_check(response: httpx.Response, path: str | list, op: str, value: Any, *,
                name: str | None, index: int | None, source: str) -> CheckRecord:
    if op not in OPERATORS:
        raise ValueError(f"unknown operator {op!r}; use one of {', '.join(OPERATORS)}")
    parts = split_path(path)
    dotted = ".".join(map(str, parts))
    label = name or f"{dotted} {op} {value!r}"
    actual = read_field(response, parts)
    if actual is _MISSING:
        passed, shown = False, None
        message = f"{label}: field {dotted!r} is missing from the response {_body_hint(response)}"
    else:
        try:
            passed = bool(OPERATORS[op](actual, value))
        except TypeError:
            passed = False
        shown = actual
        got = repr(actual)
        got = got if len(got) <= QUOTED else got[:QUOTED] + "…"  # a list read with EACH can be long
        message = f"{label}: expected {dotted} {op} {value!r}, got {got}"
    return CheckRecord(name=label, kind="field", passed=passed,
                       expected={"path": parts, "op": op, "value": value}, actual=shown,
                       message=message, response=index, source=source)


def text_check(response: httpx.Response, path: str | list | None, contains: str, *,
                name: str | None, index: int | None, source: str) -> CheckRecord:
    """The copy says what it should: ``contains`` is in a JSON field (or in the whole body)."""
    parts = split_path(path) if path else None
    where = ".".join(map(str, parts)) if parts else "the body"
    label = name or f"{where} says {contains!r}"
    actual: Any = response.text if parts is None else read_field(response, parts)
    if actual is _MISSING:
        passed, shown = False, None
        message = f"{label}: field {where!r} is missing from the response {_body_hint(response)}"
    else:
        shown = actual if isinstance(actual, str) else json.dumps(actual, ensure_ascii=False)
        passed = contains in shown
        excerpt = shown if len(shown) <= 200 else shown[:200] + "…"
        message = f"{label}: expected {where} to contain {contains!r}, got {excerpt!r}"
    return CheckRecord(name=label, kind="text", passed=passed,
                       expected={"path": parts, "contains": contains}, actual=shown,
                       message=message, response=index, source=source)


def condition_check(condition: bool, name: str, detail: str | None, *, index: int | None,
                    source: str) -> CheckRecord:
    message = name if not detail else f"{name}: {detail}"
    return CheckRecord(name=name, kind="condition", passed=bool(condition), expected=True,
                       actual=bool(condition), message=message, response=index, source=source)


def _body_hint(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return f"(body: {text[:160]}{'…' if len(text) > 160 else ''})" if text else "(empty body)"
