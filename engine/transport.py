"""The one place every request to a target goes through.

``TargetClient.send`` builds the concrete path from its template, sends the
request with httpx, retries transport errors (never HTTP statuses: a 500 is a
finding, not noise), times the exchange and returns it with a ``RequestRecord``.
Throttling, the host allow-list and redaction belong here too as they arrive.
``open_target`` turns ``--target demo|URL`` into a client and checks it answers.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, urlsplit

import attrs
import httpx

from .errors import ConfigError, TargetError
from .records import RequestRecord

__all__ = ["TargetClient", "Target", "open_target", "DEMO_BASE_URL"]

DEMO_BASE_URL = "http://demo.journeys.invalid"
RESPONSE_TEXT_LIMIT = 4096
RETRYABLE = (httpx.TransportError,)


class TargetClient:
    """Sends requests to the target: path templating, retries, timing, records."""

    def __init__(self, client: httpx.Client, *, retries: int = 2, backoff_s: float = 0.25) -> None:
        self.client = client
        self.retries = retries
        self.backoff_s = backoff_s
        self.requests_sent = 0

    def send(self, method: str, template: str, *, path_vars: dict[str, Any] | None = None,
             json: Any = None, params: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None) -> tuple[httpx.Response | None, RequestRecord]:
        path = expand_path(template, path_vars or {})
        headers = dict(headers or {})
        error: str | None = None
        response: httpx.Response | None = None
        attempts = 0
        started = time.perf_counter()
        for attempts in range(1, self.retries + 2):
            started = time.perf_counter()
            try:
                response = self.client.request(method, path, json=json, params=params, headers=headers)
                error = None
                break
            except RETRYABLE as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if attempts <= self.retries:
                    time.sleep(self.backoff_s * attempts)
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.requests_sent += attempts
        record = _record(method, template, path, params, json, headers, response, elapsed_ms, attempts, error)
        return response, (attrs.evolve(record, path_vars=dict(path_vars)) if path_vars else record)


def expand_path(template: str, path_vars: dict[str, Any]) -> str:
    try:
        return template.format_map({k: quote(str(v), safe="") for k, v in path_vars.items()})
    except KeyError as missing:
        raise ValueError(f"path {template!r} needs a value for {missing}; pass it as "
                         f"step.get({template!r}, {missing.args[0]}=...)") from None


def _record(method, template, path, params, json, headers, response, elapsed_ms, attempts, error):
    if response is None:
        return RequestRecord(method=method, template=template, path=path, params=params, json=json,
                             headers=headers, status=None, response_json=None, response_text="",
                             response_bytes=0, elapsed_ms=elapsed_ms, attempts=attempts, error=error)
    body_json = None
    if "json" in response.headers.get("content-type", ""):
        try:
            body_json = response.json()
        except ValueError:
            body_json = None
    text = response.text
    return RequestRecord(method=method, template=template, path=path, params=params, json=json,
                         headers=headers, status=response.status_code, response_json=body_json,
                         response_text=text[:RESPONSE_TEXT_LIMIT], response_bytes=len(response.content),
                         elapsed_ms=elapsed_ms, attempts=attempts, error=None)


@attrs.define
class Target:
    """An opened target: the httpx client to reach it and how to describe it."""

    client: httpx.Client
    label: str
    base_url: str
    in_process: bool = False

    def close(self) -> None:
        self.client.close()


def open_target(spec: str, *, seed: int = 0, timeout_s: float = 10.0, demo_bugs: bool = True) -> Target:
    """``demo`` for the in-process demo shop, or an http(s) URL."""
    if spec == "demo":
        from .demo import DemoShop

        app = DemoShop(bugs=demo_bugs, seed=seed)
        client = httpx.Client(transport=httpx.WSGITransport(app=app), base_url=DEMO_BASE_URL,
                              timeout=timeout_s)
        return Target(client=client, label="demo (in-process)", base_url=DEMO_BASE_URL, in_process=True)
    parts = urlsplit(spec)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"target {spec!r} is neither 'demo' nor an http(s) URL such as "
                          "http://127.0.0.1:8765")
    client = httpx.Client(base_url=spec, timeout=timeout_s)
    return Target(client=client, label=spec, base_url=spec)


def preflight(target: Target, *, attempts: int = 3, backoff_s: float = 0.5) -> None:
    """Make sure the target answers at all before a run starts (any status will do)."""
    last = ""
    for attempt in range(attempts):
        try:
            target.client.get("/")
            return
        except httpx.TransportError as exc:
            last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            time.sleep(backoff_s * (attempt + 1))
    raise TargetError(f"target {target.label} is unreachable after {attempts} attempts ({last}); "
                      "check the URL, or start the demo with `journeys demo serve`")
