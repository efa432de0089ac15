"""The one place every request to a target goes through.

``TargetClient.send`` builds the concrete path from its template, refuses a
host outside the allowed ones before anything is sent, waits for the run's rate
cap (``engine.http.rate``), tags the request with the run's id and user agent,
sends it with httpx, retries only what cannot happen twice, times the exchange
and returns it with a ``RequestRecord``.

Retries (never of HTTP statuses: a 500 is a finding, not noise): a request
that never reached the server (the connection was refused or timed out, no
connection was free) is retried whatever its method; one that may have reached
it (a read timed out, the connection broke while waiting for the answer) only
when repeating it cannot do something twice: GET, HEAD, PUT, DELETE, OPTIONS,
or an action the model marked ``idempotent=True``. A ``POST /checkout`` that
timed out after it was sent is never sent again. The policy is two branches on
httpx's own exception classes, so no retry library is needed for it.
``open_target`` turns ``--target demo|URL`` into a client and checks it answers.
"""

from __future__ import annotations

import json as jsonlib
import re
import time
from typing import Any
from urllib.parse import quote, urlsplit

import attrs
import httpx

from engine.errors import ConfigError, TargetError
from engine.http.breaker import UNAVAILABLE_STATUSES, Breaker, BreakerSettings
from engine.http.credentials import Credentials
from engine.http.rate import RateCap
from engine.http.session import Session
from engine.records import RequestRecord
from engine.redact import FieldMasks

__all__ = ["TargetClient", "Target", "open_target", "DEMO_BASE_URL", "HostNotAllowed", "IDEMPOTENT_METHODS",
           "RUN_HEADER", "allowed_host"]

DEMO_BASE_URL = "http://demo.journeys.invalid"
RESPONSE_TEXT_LIMIT = 4096
RUN_HEADER = "X-Journeys-Run"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# The request never reached the server: sending it again cannot do anything twice.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# It may have reached the server (the answer did not come back): only idempotent requests again.
MAYBE_SENT = (httpx.TransportError,)


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")  # a path that names its own scheme (and host)


class HostNotAllowed(ConfigError):
    """A request was about to go to a host outside the allowed ones; nothing was sent."""


class TargetClient:
    """Sends requests to the target: allowed hosts, tags, path templating, safe retries, timing."""

    def __init__(self, client: httpx.Client, *, retries: int = 2, backoff_s: float = 0.25,
                 run_id: str | None = None, run_header: str = RUN_HEADER, user_agent: str | None = None,
                 allowed_hosts: tuple[str, ...] = (), rate_cap: RateCap | None = None,
                 breaker: BreakerSettings | None = None, masks: FieldMasks | None = None,
                 credentials: Credentials | None = None) -> None:
        self.client = client
        self.credentials = credentials or Credentials()  # step.credential(...): read from the environment
        self.masks = masks or FieldMasks()  # other people's data in responses, masked in every record
        if self.credentials:  # and no credential's value in any record: ${VARIABLE} in its place
            self.masks = self.masks.hiding(self.credentials.markers())
        self.rate_cap = rate_cap  # every attempt waits its turn, retries included
        # Notes every attempt; once it has confirmed an outage, nothing is sent until it is over.
        self.breaker = Breaker(self.probe, breaker) if breaker is not None else None
        self.retries = retries
        self.backoff_s = backoff_s
        self.requests_sent = 0
        # (host, port): the target's own exactly; one given as "host" allows any port, "host:port" that one.
        self.allowed_hosts = frozenset({_address(client.base_url), *(allowed_host(h) for h in allowed_hosts)})
        self.tagging: dict[str, str] = {}  # sent on every request, never recorded
        if run_id and run_header:
            self.tagging[run_header] = run_id
        if user_agent:
            self.tagging["User-Agent"] = user_agent

    def send(self, method: str, template: str, *, path_vars: dict[str, Any] | None = None,
             json: Any = None, params: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None, idempotent: bool = False,
             action: str | None = None, session: Session | None = None,
             recorded_headers: dict[str, str] | None = None) -> tuple[httpx.Response | None, RequestRecord]:
        """Send one request; ``session`` is the actor's (its cookies go with it, and come back
        with what the target set; its ``httpx.Auth`` credentials, if any, sign it).
        ``recorded_headers``: the headers as the record keeps them (credentials masked)."""
        path = expand_path(template, path_vars or {})
        self._check_host(method, path, action)
        if self.breaker is not None:
            self.breaker.before_send()  # raises TargetDown while an outage is under way
        headers = dict(headers or {})
        sent_headers = {**self.tagging, **headers}
        repeatable = idempotent or method.upper() in IDEMPOTENT_METHODS
        error: str | None = None
        response: httpx.Response | None = None
        attempts = 0
        waited_s = 0.0
        started = time.perf_counter()
        for attempts in range(1, self.retries + 2):
            if self.rate_cap is not None:
                waited_s += self.rate_cap.wait()
            started = time.perf_counter()
            try:
                response = self._request(method, path, json=json, params=params, headers=sent_headers,
                                         session=session)
                error = None
                if self.breaker is not None:
                    self.breaker.note(response.status_code in UNAVAILABLE_STATUSES, time.perf_counter() - started)
                break
            except MAYBE_SENT as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if self.breaker is not None:
                    self.breaker.note(True)
                    if self.breaker.open:
                        error += " (not retried: the target is down)"
                        break
                if not isinstance(exc, NOT_SENT) and not repeatable:
                    error += f" (not retried: a {method.upper()} may have reached the server)"
                    break
                if attempts <= self.retries:
                    time.sleep(self.backoff_s * attempts)
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.requests_sent += attempts
        record = _record(method, template, path, params, json,
                         headers if recorded_headers is None else recorded_headers,
                         response, elapsed_ms, attempts, error, self.masks)
        if waited_s:
            record = attrs.evolve(record, waited_ms=waited_s * 1000)
        return response, (attrs.evolve(record, path_vars=dict(path_vars)) if path_vars else record)


    def _request(self, method: str, path: str, *, session: Session | None, **kwargs: Any) -> httpx.Response:
        if session is None:
            return self.client.request(method, path, **kwargs)
        # The client's jar is the actor's for this request only: no actor's cookies reach another.
        # The jar is swapped in as it is (httpx's ``cookies`` setter would copy it each way).
        client = self.client
        own, client._cookies = client._cookies, session.cookies
        try:
            return client.request(method, path, auth=session.httpx_auth or httpx.USE_CLIENT_DEFAULT, **kwargs)
        finally:
            client._cookies = own

    def probe(self) -> bool:
        """Does the target answer (anything but 502/503/504)? One GET of the breaker's probe path,
        tagged and under the rate cap like every request, never retried."""
        path = self.breaker.settings.probe_path if self.breaker is not None else "/"
        if self.rate_cap is not None:
            slot = self.rate_cap.current()
            if slot is not None and slot.paused and self.breaker is not None and self.breaker.open:
                return False  # an outage waited out through a pause: no probe goes in the pause
            self.rate_cap.wait()  # raises Paused in a pause: the caller's journey stops there
        self.requests_sent += 1
        slow_s = self.breaker.settings.slow_s if self.breaker is not None else None
        started = time.perf_counter()
        try:
            response = self.client.get(path, headers=dict(self.tagging))
        except httpx.TransportError:
            return False
        in_time = slow_s is None or time.perf_counter() - started <= slow_s
        return in_time and response.status_code not in UNAVAILABLE_STATUSES

    def _check_host(self, method: str, path: str, action: str | None) -> None:
        if not path.startswith("//") and not _SCHEME.match(path):
            return  # relative to the target's own URL, whose host is allowed (the common case, kept cheap)
        host, port = _address(self.client.base_url.join(path))
        if (host, port) in self.allowed_hosts or (host, None) in self.allowed_hosts:
            return
        who = f"action {action!r}" if action else "a request"
        allowed = ", ".join(sorted(h if p is None else f"{h}:{p}" for h, p in self.allowed_hosts))
        raise HostNotAllowed(f"{who} would send {method.upper()} {path} to {host}:{port}, which is not an "
                             f"allowed host (allowed: {allowed}); nothing was sent. Add it with "
                             f"--allow-host {host}:{port} if the journey really goes there")


def _address(url: httpx.URL) -> tuple[str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.host.lower(), url.port or default


def allowed_host(spec: str) -> tuple[str, int | None]:
    host, _, port = spec.strip().lower().rpartition(":") if ":" in spec else (spec.strip().lower(), "", "")
    if not host or (port and not port.isdigit()):
        raise ConfigError(f"--allow-host {spec!r}: give a host name or host:port, such as api.example.com:443")
    return host, int(port) if port else None


def expand_path(template: str, path_vars: dict[str, Any]) -> str:
    try:
        return template.format_map({k: quote(str(v), safe="") for k, v in path_vars.items()})
    except KeyError as missing:
        raise ValueError(f"path {template!r} needs a value for {missing}; pass it as "
                         f"step.get({template!r}, {missing.args[0]}=...)") from None


def _record(method, template, path, params, json, headers, response, elapsed_ms, attempts, error, masks):
    if masks.hidden:  # a credential the model sent: its variable's name is recorded, never its value
        path, params, json, headers = (masks.hide(path), masks.hide(params), masks.hide(json),
                                       masks.hide(headers))
        error = masks.hide(error)
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
        else:
            response._journeys_json = body_json  # parsed once: the model's and the checks' reads trace it
    text = response.text
    if body_json is not None:
        body_json = masks.data(body_json)
        if masks.names or masks.paths:  # named fields: the text says what the masked JSON says
            text = jsonlib.dumps(body_json, ensure_ascii=False)
    return RequestRecord(method=method, template=template, path=path, params=params, json=json,
                         headers=headers, status=response.status_code, response_json=body_json,
                         response_text=masks.text(text[:RESPONSE_TEXT_LIMIT]), response_bytes=len(response.content),
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
        from demo_shop import DemoShop

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


def preflight(target: Target, *, attempts: int = 3, backoff_s: float = 0.5,
              headers: dict[str, str] | None = None, rate_cap: RateCap | None = None) -> None:
    """Make sure the target answers at all before a run starts (any status will do).

    ``headers`` tag it like the run's own requests (``TargetClient.tagging``), and it waits
    for the run's ``rate_cap`` like them."""
    last = ""
    for attempt in range(attempts):
        if rate_cap is not None:
            rate_cap.wait(in_pause=True)  # one request to see the target is there, even in a pause
        try:
            target.client.get("/", headers=headers)
            return
        except httpx.TransportError as exc:
            last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            time.sleep(backoff_s * (attempt + 1))
    raise TargetError(f"target {target.label} is unreachable after {attempts} attempts ({last}); "
                      "check the URL, or start the demo with `journeys demo serve`")
