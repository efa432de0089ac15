"""Masking of secrets before anything is shown or stored.

Authorization and cookie headers, and any field whose name says it is a
password, token or secret, are replaced by a fixed mask. Used by the terminal
view now, and by every writer that keeps data.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MASK", "redact_headers", "redact_data", "is_secret_name"]

MASK = "***"
SECRET_NAME = re.compile(r"pass(word)?|secret|token|api[_-]?key|authori[sz]ation|cookie|session", re.I)
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
        return {k: MASK if isinstance(k, str) and is_secret_name(k) and not isinstance(v, (dict, list))
                else redact_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_data(v) for v in value]
    return value
