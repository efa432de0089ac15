"""Masking of secrets, and of other people's data, before anything is shown or stored.

Authorization and cookie headers, and any field whose name says it is a
password, token or secret, are replaced by a fixed mask. Used by the terminal
view and by every writer that keeps data. ``FieldMasks`` masks what a response
says about other people (emails, phone numbers, fields named by the user)
before the response is recorded at all.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MASK", "CREDENTIAL_MARKER", "is_secret_name", "redact_data", "redact_headers", "redact_text", "redact_everywhere", "FieldMasks"]

MASK = "***"
SECRET_NAME = re.compile(r"passw(or)?d|passphrase|^pass$|secret|token|api[_-]?key|authori[sz]ation|cookie|session",
                         re.I)
# In free text (a check's message quoting a response body, an error): "token": "abc" and Bearer abc.
_QUOTED_SECRET = re.compile(
    r"""(["']?[\w-]*(?:passw(?:or)?d|passphrase|secret|token|api[_-]?key|cookie|session)[\w-]*["']?\s*[:=]\s*)"""
    r"""("[^"]*"|'[^']*'|[^\s,;&}]+)""", re.I)
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[^\s\"',;]+", re.I)
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})
# What a record keeps where an actor's credential was (engine.http.credentials): the variable's name, no secret.
CREDENTIAL_MARKER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    redacted = {}
    for name, value in headers.items():
        if name.lower() in SECRET_HEADERS and not CREDENTIAL_MARKER.fullmatch(value.rpartition(" ")[2]):
            scheme, _, rest = value.partition(" ")
            redacted[name] = f"{scheme} {MASK}" if rest else MASK
        else:
            redacted[name] = value
    return redacted


def redact_data(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: MASK if isinstance(k, str) and is_secret_name(k) and not isinstance(v, (dict, list, tuple))
                and not (isinstance(v, str) and CREDENTIAL_MARKER.fullmatch(v))
                else redact_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v) for v in value]
    return value


def redact_text(text: str) -> str:
    """Mask secrets quoted inside free text: ``"token": "abc"`` and ``Bearer abc``."""
    text = _QUOTED_SECRET.sub(lambda m: m.group(1) + (f'"{MASK}"' if m.group(2).startswith('"') else MASK), text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)


def redact_everywhere(value: Any) -> Any:
    """``redact_data``, then ``redact_text`` on every string left (messages, bodies)."""
    value = redact_data(value)

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            return redact_text(item)
        if isinstance(item, dict):
            return {k: walk(v) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [walk(v) for v in item]
        return item

    return walk(value)


# --- other people's data in responses --------------------------------------------------------------
# Test data journeys made carries a tag (``step.unique``): jy<run>x<n> in a run, jr<hex>x<n> in an export.
_OURS = re.compile(r"j[yr][0-9a-f]{6,8}x\d+")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\w)")  # international: +49 30 1234567


class FieldMasks:
    """Masks for other people's data in what the target answered, applied before it is recorded.

    On production a listing can answer with real customers' names and emails. By default every
    email and international phone number in a response is masked unless it is journeys' own
    test data (it carries a tag); ``names`` (field names, any depth, case-insensitive) and
    ``paths`` (dotted, ``*`` for any key or index: ``users.*.name``) mask whole fields.
    The walk itself sees the real response; only records (store, exports, terminal) are masked.
    """

    def __init__(self, names: tuple[str, ...] = (), paths: tuple[str, ...] = (), *,
                 emails: bool = True, phones: bool = True) -> None:
        self.names = frozenset(name.lower() for name in names)
        self.paths = tuple(tuple(path.removeprefix("$.").split(".")) for path in paths)
        self.emails = emails
        self.phones = phones
        # Credentials' values -> what records keep instead (``${VARIABLE}``), the longest first.
        self.hidden: tuple[tuple[str, str], ...] = ()

    def hiding(self, hidden: Mapping[str, str]) -> FieldMasks:
        """These masks, and ``hidden`` (credentials' values -> markers) hidden as well."""
        copied = copy.copy(self)
        copied.hidden = tuple(sorted({**dict(self.hidden), **hidden}.items(), key=lambda item: -len(item[0])))
        return copied

    def hide(self, value: Any) -> Any:
        """``value`` with every credential's value replaced by its marker (requests as recorded);
        a string that holds none is returned as it is (a value's provenance stays with it)."""
        if not self.hidden:
            return value
        if isinstance(value, str):
            hidden = value
            for secret, marker in self.hidden:
                if secret in hidden:
                    hidden = hidden.replace(secret, marker)
            return value if hidden == value else hidden
        if isinstance(value, dict):
            return {key: self.hide(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.hide(item) for item in value]
        return value

    def text(self, text: str) -> str:
        text = self.hide(text)
        if self.emails:
            text = _EMAIL.sub(lambda m: m.group(0) if _OURS.search(m.group(0)) else f"{MASK}@{MASK}", text)
        if self.phones:
            text = _PHONE.sub(MASK, text)
        return text

    def data(self, value: Any, at: tuple[str, ...] = ()) -> Any:
        if isinstance(value, dict):
            return {key: MASK if self._named(key, (*at, str(key))) and value[key] is not None
                    else self.data(value[key], (*at, str(key))) for key in value}
        if isinstance(value, list):
            return [self.data(item, (*at, str(index))) for index, item in enumerate(value)]
        if isinstance(value, str):
            return self.text(value)
        return value

    def _named(self, key: Any, at: tuple[str, ...]) -> bool:
        if isinstance(key, str) and key.lower() in self.names:
            return True
        return any(len(path) == len(at) and all(p in ("*", a) for p, a in zip(path, at)) for path in self.paths)
