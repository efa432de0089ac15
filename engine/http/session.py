"""One actor's session with the target: its own cookie jar and its own credentials.

Two actors are two people: bob signing in must not replace alice's session.
Every actor of a journey gets a fresh ``Session``; the one request path
(``TargetClient.send``) sends each request with its actor's cookies and keeps
what the target set, and adds the actor's credentials:

- ``Bearer(token)``: ``Authorization: Bearer <token>`` (``step.authenticate(token)``);
- ``Basic(user, password)``: HTTP Basic (``step.authenticate(basic=(user, password))``);
- ``ApiKey(header, value)``: a header of the target's choosing (``step.authenticate(header=(name, value))``);
- ``CustomAuth(auth)``: any ``httpx.Auth`` (``step.authenticate(auth=...)``), e.g. digest.

Credentials are never written to the store or an export: headers that carry them are
masked, and an export rebuilds them at run time from the values they were made of
(the password from ``JOURNEYS_SECRET_<NAME>``, a token from the response that gave it).
"""

from __future__ import annotations

import base64
from typing import Any, Union

import attrs
import httpx

__all__ = ["Session", "Bearer", "Basic", "ApiKey", "CustomAuth", "Credentials", "basic_header"]


@attrs.frozen
class Bearer:
    token: Any


@attrs.frozen
class Basic:
    user: Any
    password: Any


@attrs.frozen
class ApiKey:
    header: str
    value: Any


@attrs.frozen
class CustomAuth:
    auth: httpx.Auth


Credentials = Union[Bearer, Basic, ApiKey, CustomAuth]


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")


@attrs.define
class Session:
    """An actor's cookies (kept between its requests) and credentials (None: anonymous)."""

    cookies: httpx.Cookies = attrs.field(factory=httpx.Cookies)
    credentials: Credentials | None = None

    def auth_header(self) -> tuple[str, str] | None:
        """The header the credentials add, as sent (None for none, or for an ``httpx.Auth``)."""
        credentials = self.credentials
        if isinstance(credentials, Bearer) and credentials.token:
            return "Authorization", f"Bearer {credentials.token}"
        if isinstance(credentials, Basic):
            return "Authorization", basic_header(str(credentials.user), str(credentials.password))
        if isinstance(credentials, ApiKey):
            return credentials.header, str(credentials.value)
        return None

    @property
    def httpx_auth(self) -> httpx.Auth | None:
        return self.credentials.auth if isinstance(self.credentials, CustomAuth) else None

    @property
    def signed_in(self) -> bool:
        return self.credentials is not None and not (isinstance(self.credentials, Bearer)
                                                     and not self.credentials.token)
