"""Requests in, responses out, and the route table in between.

`_read_request` turns a WSGI environ into a `Request` (whose `json_object` reads
the body) and `_encode` turns a `Response` into a status line, headers and
bytes; an `ApiError` is a failure the client sees as a JSON error body. `route`
registers a `DemoShop` method in `ROUTES`, which the shop's dispatcher walks in
registration order, and `_user` is the signed-in user of an authenticated route.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from demo_shop.domain import User

if TYPE_CHECKING:
    from demo_shop.app import DemoShop

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


class Response(NamedTuple):
    status: int
    body: Any = None  # None means an empty body
    headers: tuple[tuple[str, str], ...] = ()


class ApiError(Exception):
    """A client-visible failure: HTTP status, error code and a human sentence."""

    def __init__(self, status: int, code: str, message: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers

    def response(self) -> Response:
        return Response(self.status, {"error": self.code, "message": self.message}, self.headers)


@dataclass
class Request:
    method: str
    path: str
    authorization: str
    raw_body: bytes
    cookies: str = ""  # the Cookie header
    params: dict[str, str] = field(default_factory=dict)
    user: User | None = None  # set by the router on authenticated routes
    token: str = ""
    operator: bool = False  # signed in with the shop's operator token

    def cookie(self, name: str) -> str:
        jar = SimpleCookie()
        try:
            jar.load(self.cookies)
        except CookieError:
            return ""
        return jar[name].value if name in jar else ""

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; an absent body counts as "not an object"."""
        try:
            body = json.loads(self.raw_body) if self.raw_body.strip() else None
        except (ValueError, RecursionError):
            raise ApiError(400, "invalid_json", "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise ApiError(422, "invalid_body", "The request body must be a JSON object.")
        return body


Handler: TypeAlias = Callable[["DemoShop", Request], Response]


class Route(NamedTuple):
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: bool


ROUTES: list[Route] = []


def route(method: str, template: str, *, auth: bool = False) -> Callable[[Handler], Handler]:
    """Register a handler for `method` on a path template such as `/api/orders/{order_id}`."""
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part) for i, part in enumerate(parts))

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method, re.compile(regex), handler, auth))
        return handler

    return register


def _read_request(environ: dict[str, Any]) -> Request:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return Request(
        method=environ["REQUEST_METHOD"].upper(),
        path=environ.get("PATH_INFO") or "/",
        authorization=environ.get("HTTP_AUTHORIZATION", ""),
        cookies=environ.get("HTTP_COOKIE", ""),
        raw_body=environ["wsgi.input"].read(length) if length > 0 else b"",
    )


def _encode(response: Response) -> tuple[str, list[tuple[str, str]], bytes]:
    status = f"{response.status} {HTTPStatus(response.status).phrase}"
    if response.body is None:
        return status, list(response.headers), b""
    payload = json.dumps(response.body, ensure_ascii=False).encode("utf-8")
    headers = [("Content-Type", JSON_CONTENT_TYPE), ("Content-Length", str(len(payload))), *response.headers]
    return status, headers, payload


SESSION_COOKIE = "shop_session"


def _session_cookie(token: str) -> tuple[str, str]:
    """Log-in sets the session in a cookie too (an empty one ends it), for clients that keep cookies."""
    expiry = "" if token else "; Max-Age=0"
    return "Set-Cookie", f"{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax{expiry}"


def _basic_credentials(encoded: str) -> tuple[str, str, str]:
    """``email``, ``:``, ``password`` from an HTTP Basic header's value ('' parts if it is malformed)."""
    try:
        return base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", "", ""


def _user(request: Request) -> User:
    assert request.user is not None, "handler is registered without auth=True"
    return request.user
