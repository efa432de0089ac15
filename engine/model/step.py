"""The model author's API inside an action: the ``step`` it receives, and an invariant's ``check``.

``step.get/post/...`` send requests through the one request path (``engine.http.client``),
``step.me`` and ``step.shared`` are memory, ``step.unique`` tags test data,
``step.cleanup`` registers what removes it (``step.created`` what only a crashed run's
sweep removes), and ``step.expect_*`` record checks. The runner
that drives a journey (``engine.walk.journey.JourneyRunner``) builds one ``StepContext`` per
step; this module knows it only through the attributes it reads.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from engine.model import checks
from engine.model.checks import CheckFailed
from engine.http.provenance import links_in, plain, trace_response
from engine.records import CheckRecord, RequestRecord
from engine.http.session import ApiKey, Basic, Bearer, CustomAuth, Session
from engine.walk.memory import Memory

if TYPE_CHECKING:
    from engine.redact import FieldMasks
    from engine.walk.journey import JourneyRunner

__all__ = ["StepContext", "InvariantCheck", "CleanupHandle", "StepAborted", "session_auth"]


def credential_header(session: Session, given: dict[str, str], journey: int, masks: FieldMasks | None = None):
    """The header the actor's credentials add to a request: (name, value sent, value recorded,
    how an export rebuilds it, links); None when there is none or the model set that header itself.

    A Bearer token is recorded as sent (the store masks it; its link rebuilds it from the response
    that handed it out); a Basic password and an API key are masked already here, so no record
    ever holds them; an export takes them from ``JOURNEYS_SECRET_<NAME>``. A token or an API key
    that is an actor's credential (``step.credential``) is recorded as its marker, ``${VARIABLE}``
    (``masks.hide``), and read from that variable again by the exports.
    """
    added = session.auth_header()
    if added is None or any(name.lower() == added[0].lower() for name in given):
        return None
    name, value = added
    hidden = masks.hide(value) if masks is not None else value  # an actor's credential: its variable's name
    credentials = session.credentials
    if isinstance(credentials, Bearer):
        links = [dict(link, prefix="Bearer ") for link in links_in(credentials.token, ("headers", name), journey)]
        return name, value, hidden, None, links
    if isinstance(credentials, Basic):
        links = list(links_in(credentials.user, ("auth", "user"), journey))
        return name, value, "Basic ***", {"basic": {"user": plain(credentials.user)}}, links
    links = list(links_in(credentials.value, ("headers", name), journey))
    return name, value, hidden if hidden is not value else "***", {"header": name}, links


class CleanupHandle:
    """A registered clean-up; ``cancel()`` withdraws it (safe to call twice)."""

    def __init__(self, runner: JourneyRunner, entry: tuple | None, recorded: tuple[int, int] | None,
                 ledger_id: str) -> None:
        self._runner = runner
        self._entry = entry          # None for what only the ledger keeps (``step.created``)
        self._recorded = recorded    # (step index, position in its cleanup_requests)
        self._ledger_id = ledger_id

    def cancel(self) -> None:
        runner = self._runner
        if self._entry is None:
            kept = [entry for entry in runner.crash_only if entry[1] != self._ledger_id]
            if len(kept) < len(runner.crash_only):
                runner.crash_only[:] = kept
                runner.withdraw(self._ledger_id, "withdrawn by the model")
        elif any(item is self._entry for item in runner.cleanups):
            runner.cleanups[:] = [item for item in runner.cleanups if item is not self._entry]
            runner.withdrawn.append(self._recorded)
            runner.withdraw(self._ledger_id, "withdrawn by the model")


def session_auth(session: Session) -> dict[str, Any] | None:
    """How a session signs its requests, for the clean-up ledger: the scheme, never the secret."""
    credentials = session.credentials
    if isinstance(credentials, Bearer) and credentials.token:
        return {"scheme": "bearer"}
    if isinstance(credentials, Basic):
        return {"scheme": "basic"}
    if isinstance(credentials, ApiKey):
        return {"scheme": "header", "header": credentials.header}
    if isinstance(credentials, CustomAuth):
        return {"scheme": "custom"}
    return {"scheme": "cookie"} if len(session.cookies) else None


class StepAborted(Exception):
    """The step cannot go on (the target did not answer): recorded as its failed check."""

    def __init__(self, record: CheckRecord) -> None:
        super().__init__(record.message)
        self.record = record


class StepContext:
    """What an action function receives as ``step``: requests, memory and checks."""

    def __init__(self, runner: JourneyRunner, actor: str, action: str, *, idempotent: bool = False) -> None:
        self._runner = runner
        self.actor = actor
        self.action = action
        self.idempotent = idempotent
        self.me: Memory = runner.memory[actor]
        self.shared: Memory = runner.shared
        self.requests: list[RequestRecord] = []
        self.responses: list[httpx.Response] = []
        self.checks: list[CheckRecord] = []
        self.tags: list[str] = []
        self.cleanups_registered = 0
        self.cleanup_requests: list[dict[str, Any]] = []  # as recorded, for the walks of engine.export.script

    # --- requests -------------------------------------------------------------------------
    def request(self, method: str, template: str, *, json: Any = None,
                params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                **path_vars: Any) -> httpx.Response:
        runner = self._runner
        session = runner.sessions[self.actor]
        sent_headers = dict(headers or {})
        links = [*links_in(path_vars, ("path",), runner.token), *links_in(json, ("json",), runner.token),
                 *links_in(params, ("params",), runner.token), *links_in(sent_headers, ("headers",), runner.token)]
        recorded_headers, auth = dict(sent_headers), None
        added = credential_header(session, sent_headers, runner.token, runner.client.masks)
        if added is not None:
            name, value, recorded, auth, auth_links = added
            sent_headers[name], recorded_headers[name] = value, recorded
            links += auth_links
        response, record = runner.client.send(method, template, path_vars=plain(path_vars), json=plain(json),
                                              params=plain(params), headers=plain(sent_headers),
                                              idempotent=self.idempotent, action=self.action, session=session,
                                              recorded_headers=plain(recorded_headers))
        if links or auth:
            record = attrs.evolve(record, links=tuple(links), auth=auth)
        self.requests.append(record)
        if response is None:
            raise StepAborted(CheckRecord(
                name="target answers", kind="error", passed=False, expected="a response",
                actual=record.error, response=len(self.requests) - 1,
                message=f"{method} {record.path}: no response after {record.attempts} attempts "
                        f"({record.error})"))
        self.responses.append(trace_response(response, runner.token, len(runner.steps), len(self.requests) - 1))
        return response

    def get(self, template: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", template, **kwargs)

    def post(self, template: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", template, **kwargs)

    def put(self, template: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", template, **kwargs)

    def patch(self, template: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", template, **kwargs)

    def delete(self, template: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", template, **kwargs)

    # --- the actor's session and test data --------------------------------------------
    def authenticate(self, token: str | None = None, *, basic: tuple[str, str] | None = None,
                     header: tuple[str, str] | None = None, auth: httpx.Auth | None = None) -> None:
        """How this actor signs its later requests (clean-ups included); exactly one form:

        - ``step.authenticate(token)``: ``Authorization: Bearer <token>``;
        - ``step.authenticate(basic=(user, password))``: HTTP Basic;
        - ``step.authenticate(header=("X-API-Key", key))``: a header of the target's choosing;
        - ``step.authenticate(auth=httpx.DigestAuth(...))``: any ``httpx.Auth``;
        - ``step.authenticate(None)``: signed out: no credentials, and its cookies forgotten.

        Cookies the target sets are kept per actor whatever the form: two actors never share them.
        """
        given = [form for form in (token, basic, header, auth) if form is not None]
        if len(given) > 1:
            raise TypeError("step.authenticate takes one form: a token, basic=, header= or auth=")
        session = self._runner.sessions[self.actor]
        if not given:
            session.credentials = None
            session.cookies = httpx.Cookies()
        elif token is not None:
            session.credentials = Bearer(token)
        elif basic is not None:
            session.credentials = Basic(*basic)
        elif header is not None:
            session.credentials = ApiKey(*header)
        else:
            session.credentials = CustomAuth(auth)

    @property
    def signed_in(self) -> bool:
        """Whether this actor currently sends credentials (a session cookie alone does not count)."""
        return self._runner.sessions[self.actor].signed_in

    def unique(self, value: str) -> str:
        """Tag test data so it is unique and recognisable: ``a@x.org`` -> ``a+jy1a2b3cx7@x.org``."""
        tag = self._runner.tagger.next()
        self.tags.append(tag)
        if "@" in value:
            local, _, domain = value.rpartition("@")
            return f"{local}+{tag}@{domain}"
        return f"{value}-{tag}"

    def cleanup(self, method: str, template: str, **path_vars: Any) -> CleanupHandle:
        """Register a request that removes what this step created, run when the journey ends.

        Keep the handle to withdraw it (``handle.cancel()``) once a later step made
        it unnecessary, e.g. an order returned or an account deleted with its data.
        It goes into the clean-up ledger at once, so ``journeys cleanup`` can send it
        if the run dies before the journey ends.
        """
        self.cleanups_registered += 1
        runner = self._runner
        session = runner.sessions[self.actor]
        links = list(links_in(path_vars, ("path",), runner.token))
        headers, recorded_headers, auth = {}, {}, None
        added = credential_header(session, {}, runner.token, runner.client.masks)
        if added is not None:
            name, value, recorded, auth, auth_links = added
            # A token as sent is masked here (clean-ups are not recorded through the client); a
            # credential's marker is no secret.
            headers[name] = value
            recorded_headers[name] = "Bearer ***" if recorded is value and value.startswith("Bearer ") else recorded
            links += auth_links
        self.cleanup_requests.append({"method": method, "template": template, "path_vars": plain(path_vars),
                                      "headers": recorded_headers, "links": links, "auth": auth,
                                      "actor": self.actor})
        ledger_id = runner.register_cleanup(self.actor, self.action, method, template, plain(path_vars),
                                            session_auth(session), crash_only=False)
        # The clean-up runs as the actor was when it registered it (signed in, with its cookies then).
        as_then = Session(cookies=httpx.Cookies(session.cookies), credentials=session.credentials)
        entry = (self.actor, as_then, plain(headers), method, template, path_vars, len(self._runner.steps),
                 self.action, ledger_id)
        self._runner.cleanups.append(entry)
        recorded = (len(self._runner.steps), len(self.cleanup_requests) - 1)
        return CleanupHandle(runner, entry, recorded, ledger_id)

    def created(self, method: str, template: str, **path_vars: Any) -> CleanupHandle:
        """Tell the clean-up ledger what removes something the model's teardown deletes.

        Nothing is sent when the journey ends (the teardown does that, e.g. it logs in
        again and deletes the account); only ``journeys cleanup`` sends it, for a run
        that died before its teardown ran, signed in by ``@model.cleanup_login``.
        """
        runner = self._runner
        ledger_id = runner.register_cleanup(self.actor, self.action, method, template, plain(path_vars),
                                            session_auth(runner.sessions[self.actor]), crash_only=True)
        runner.crash_only.append((self.actor, ledger_id))
        return CleanupHandle(runner, None, None, ledger_id)

    def credential(self, name: str) -> str:
        """The step's actor's credential ``name`` (``email``, ``password``, ``token``...), read from the
        environment variable the project file's ``[credentials.ACTOR]`` (or ``--credential``) names.

        Records keep ``${VARIABLE}`` where its value was sent; exports read the variable again.
        """
        return self._runner.client.credentials.value(self.actor, name, action=self.action)

    @staticmethod
    def secret(name: str) -> str:
        """The value of environment variable ``name`` (a credential the model must not hold)."""
        value = os.environ.get(name)
        if not value:
            raise LookupError(f"environment variable {name} is not set")
        return value

    # --- checks ----------------------------------------------------------------------------
    def _index(self, response: httpx.Response) -> int | None:
        return next((i for i, r in enumerate(self.responses) if r is response), None)

    def _record(self, record: CheckRecord) -> None:
        links = tuple(links_in(record.expected, (), self._runner.token))
        record = attrs.evolve(record, expected=plain(record.expected), actual=plain(record.actual), links=links)
        self.checks.append(record)
        if not record.passed:
            raise CheckFailed(record)

    def expect_status(self, response: httpx.Response, *codes: int, name: str | None = None) -> None:
        """The response status is one of ``codes``."""
        self._record(checks.status_check(response, codes, name=name, index=self._index(response),
                                         source="action"))

    def expect_field(self, response: httpx.Response, path: str, op: str, value: Any, *,
                     name: str | None = None) -> None:
        """A JSON field compares to ``value``: ``step.expect_field(r, "total", ">=", 0)``."""
        self._record(checks.field_check(response, path, op, value, name=name,
                                        index=self._index(response), source="action"))

    def expect_text(self, response: httpx.Response, path: str | None, contains: str, *,
                    name: str | None = None) -> None:
        """The copy is as written: ``contains`` appears in a JSON field (``path=None``: the body).

        A failed text check on a successful response makes the failure a *content change*.
        """
        self._record(checks.text_check(response, path, contains, name=name,
                                       index=self._index(response), source="action"))

    def expect(self, condition: bool, name: str, detail: str | None = None, *,
               response: httpx.Response | None = None) -> None:
        """Any other condition (model code decides; exported as a comment, not an assert)."""
        index = self._index(response) if response is not None else None
        self._record(checks.condition_check(condition, name, detail, index=index, source="action"))


class InvariantCheck:
    """What an invariant function receives as ``check``."""

    def __init__(self, context: StepContext, name: str, index: int) -> None:
        self._context = context
        self._name = name
        self._index = index

    def _record(self, record: CheckRecord) -> None:
        # Passing invariant checks are implied by a passing step; only failures are kept.
        if not record.passed:
            self._context._record(record)

    def status(self, response: httpx.Response, *codes: int) -> None:
        self._record(checks.status_check(response, codes, name=self._name, index=self._index,
                                         source="invariant"))

    def status_below(self, response: httpx.Response, limit: int) -> None:
        """The status is below ``limit`` (e.g. 500: no server errors)."""
        self._record(checks.status_below_check(response, limit, name=self._name, index=self._index,
                                               source="invariant"))

    def field(self, response: httpx.Response, path: str, op: str, value: Any) -> None:
        self._record(checks.field_check(response, path, op, value, name=self._name,
                                        index=self._index, source="invariant"))

    def text(self, response: httpx.Response, path: str | None, contains: str) -> None:
        self._record(checks.text_check(response, path, contains, name=self._name, index=self._index,
                                       source="invariant"))

    def that(self, condition: bool, detail: str | None = None) -> None:
        self._record(checks.condition_check(condition, self._name, detail, index=self._index,
                                            source="invariant"))
