"""Masking of secrets before anything is shown or stored.

Authorization and cookie headers, and any field whose name says it is a
password, token or secret, are replaced by a fixed mask. Used by the terminal
view now, and by every writer that keeps data.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MASK", "is_secret_name", "redact_data", "redact_headers", "redact_text", "redact_everywhere"]

MASK = "***"
SECRET_NAME = re.compile(r"passw(or)?d|passphrase|^pass$|secret|token|api[_-]?key|authori[sz]ation|cookie|session",
                         re.I)
# In free text (a check's message quoting a response body, an error): "token": "abc" and Bearer abc.
_QUOTED_SECRET = re.compile(
    r"""(["']?[\w-]*(?:passw(?:or)?d|passphrase|secret|token|api[_-]?key|cookie|session)[\w-]*["']?\s*[:=]\s*)"""
    r"""("[^"]*"|'[^']*'|[^\s,;&}]+)""", re.I)
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[^\s\"',;]+", re.I)
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    redacted = {}
    for name, value in headers.items():
        if name.lower() in SECRET_HEADERS:
            scheme, _, rest = value.partition(" ")
            redacted[name] = f"{scheme} {MASK}" if rest else MASK
        else:
            redacted[name] = value
    return redacted


def redact_data(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: MASK if isinstance(k, str) and is_secret_name(k) and not isinstance(v, (dict, list, tuple))
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
