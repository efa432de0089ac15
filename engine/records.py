"""Immutable records of what a walk did: requests, checks, steps, failures.

These are the nouns every other module shares. A ``StepRecord`` holds everything
needed to show, replay or export one step of a journey; a ``Failure`` holds the
minimal reproduction of one distinct bug together with its fingerprint and the
tally of the replays that decided its kind and, for a failure caused by data
an earlier journey left on the target, the step that most likely created it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import attrs

__all__ = [
    "RequestRecord",
    "CheckRecord",
    "StepRecord",
    "Fingerprint",
    "LeftBehind",
    "Failure",
    "FAILURE_KINDS",
    "status_class",
    "to_jsonable",
]


FAILURE_KINDS = ("regression", "intermittent", "content-change", "left-behind", "suspected-left-behind",
                 "inconclusive")


def status_class(status: int | None) -> str:
    """'2xx', '4xx', '5xx'... or 'no response' when the request never got one."""
    if status is None:
        return "no response"
    return f"{status // 100}xx"


def to_jsonable(value: Any) -> Any:
    """A JSON-compatible copy of drawn data (tuples become lists, odd objects repr)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    as_ref = getattr(value, "as_ref", None)
    if callable(as_ref):
        return as_ref()
    return repr(value)


@attrs.frozen
class RequestRecord:
    """One HTTP exchange with the target, as sent and as answered."""

    method: str
    template: str
    path: str
    params: dict[str, Any] | None
    json: Any
    headers: dict[str, str]
    status: int | None
    response_json: Any
    response_text: str
    response_bytes: int
    elapsed_ms: float
    attempts: int = 1
    error: str | None = None
    path_vars: dict[str, Any] | None = None  # what filled the template's {placeholders}
    # Where this request sent back a value an earlier response handed out (engine.http.provenance):
    # {"at": ["json", "items", 0, "id"], "step": 2, "request": 0, "path": ["id"], "prefix": ""}
    links: tuple[dict[str, Any], ...] = ()
    waited_ms: float = 0.0  # waiting for the rate cap before it was sent (not the target's latency)
    # Credentials an export must rebuild (their header is masked above): {"basic": {"user": ...}}
    # or {"header": "X-API-Key"}; None for none, or a Bearer token (rebuilt from its link).
    auth: dict[str, Any] | None = None


@attrs.frozen
class CheckRecord:
    """The outcome of one check on a response.

    ``kind`` is ``status`` (expected: list of codes), ``status_below`` (a limit), ``field`` (expected:
    ``{"path": [...], "op": ">=", "value": 0}``), ``text`` (expected: ``{"path": [...] or None,
    "contains": "..."}``: the copy of a page or field), ``condition`` (model code
    decided; not exportable as data) or ``error`` (an exception in the step).
    """

    name: str
    kind: str
    passed: bool
    expected: Any
    actual: Any
    message: str
    response: int | None = None
    source: str = "action"
    links: tuple[dict[str, Any], ...] = ()  # values in ``expected`` a response handed out


@attrs.frozen
class StepRecord:
    """One action taken by one actor, with its data, requests and checks."""

    index: int
    actor: str
    action: str
    source: str
    target: str
    data: dict[str, Any]
    requests: tuple[RequestRecord, ...]
    checks: tuple[CheckRecord, ...]
    outcome: str
    duration_ms: float
    tags: tuple[str, ...] = ()
    produced: str | None = None
    cleanups: int = 0  # clean-up requests the step registered for what it created
    reads: tuple[str, ...] = ()   # keys of the actor's memory (``shared:...``: shared) the step read
    writes: tuple[str, ...] = ()  # and wrote
    fingerprint: str | None = None  # the failure met, for a failed or known step
    requires: tuple[str, ...] = ()  # memory keys its precondition read
    # The clean-ups it registered: {"method", "template", "path_vars", "headers", "links"}
    cleanup_requests: tuple[dict[str, Any], ...] = ()
    # Clean-ups of earlier steps (or of this one) it withdrew: (step index, position in its cleanup_requests)
    cancelled_cleanups: tuple[tuple[int, int], ...] = ()

    @property
    def created(self) -> bool:
        """Whether the step left data on the target: tagged data, a resource or a clean-up."""
        return self.outcome == "passed" and bool(self.tags or self.produced or self.cleanups)

    @property
    def consumed(self) -> tuple[int, ...]:
        """Indices of the steps whose resources this step's data refers to."""
        return tuple(sorted({value["step"] for value in _resource_refs(self.data)}))

    @property
    def failed_check(self) -> CheckRecord | None:
        return next((c for c in self.checks if not c.passed), None)

    @property
    def last_status(self) -> int | None:
        return self.requests[-1].status if self.requests else None


def _resource_refs(value: Any):
    if isinstance(value, dict):
        if "$resource" in value:
            yield value
            return
        for inner in value.values():
            yield from _resource_refs(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _resource_refs(inner)


@attrs.frozen
class Fingerprint:
    """What makes two failures the same bug: action, failed check, status class."""

    action: str
    check: str
    status: str

    @property
    def id(self) -> str:
        raw = json.dumps([self.action, self.check, self.status]).encode()
        return hashlib.sha1(raw).hexdigest()[:10]

    def __str__(self) -> str:
        return f"{self.action}: {self.check} ({self.status})"


@attrs.frozen
class LeftBehind:
    """The journey step that most likely left behind the data a failure depends on.

    ``steps`` is that journey as it was walked (up to its own failure, if it had
    one; its clean-ups ran after it), so replaying it and then the failure's own
    path reproduces the failure on a target that never had the data.
    """

    run_id: str
    journey: int
    step: int                  # index in ``steps`` of the step that created the data
    created_at: float
    evidence: str              # why this step: a clean-up that failed, or the timing alone
    last_passed_journey: int   # the failing action last passed here...
    first_failed_journey: int  # ...and first failed here
    steps: tuple[StepRecord, ...] = ()
    # Reset, re-created and walked: with ``steps`` first the failing path failed, without the
    # creating step it passed. Otherwise a suspicion, ``candidates`` the other journeys in the window.
    confirmed: bool = False
    candidates: tuple[int, ...] = ()
    # Traced to an earlier run through the clean-up ledger (engine.failures.earlier_runs): that run's
    # journeys are not kept, so ``steps`` is empty and these say who created the data, and how.
    actor: str = ""
    action: str = ""
    created_by: str = ""  # the ledger's clean-up for it: "DELETE /api/reviews/rev_1"

    @property
    def creating_step(self) -> StepRecord | None:
        """The step that created the data, as it was walked (None when traced from an earlier run)."""
        return self.steps[self.step] if self.steps else None


@attrs.frozen
class Failure:
    """A distinct failure with its minimal reproduction and how it was classified."""

    fingerprint: Fingerprint
    kind: str
    message: str
    steps: tuple[StepRecord, ...]
    replays_failed: int   # conclusive replays of ``steps`` that failed the same way
    replays_run: int      # conclusive replays: walked to the failing step (it failed or passed)
    found_in_journey: int
    seed: int | None
    tool_version: str
    left_behind: LeftBehind | None = None
    replays_inconclusive: int = 0  # replays that could not walk to the failing step
    minimal: bool = True           # every single-step removal was tried and none failed the same way
    notes: tuple[str, ...] = ()    # what shrinking and classification want a reader to know
    # What walking the exported form (engine.export.script) once showed before a file was written:
    # "reproduced", or why no reproduction file was written ("not reproduced: ...", "diverged: ...").
    export_check: str | None = None

    @property
    def reproducible(self) -> bool:
        """Its exported form was walked and failed at the marked step: a file may be handed over."""
        return self.export_check == "reproduced"

    @property
    def tally(self) -> str:
        """``failed k of n conclusive replays (m inconclusive)``, and what else the verdict rests on."""
        text = (f"failed {self.replays_failed} of {self.replays_run} conclusive replays "
                f"({self.replays_inconclusive} inconclusive)")
        if self.replays_run and not self.replays_failed:
            text += " after failing when first met"
        if not self.minimal:
            text += "; not proven minimal"
        return text

    @property
    def id(self) -> str:
        return self.fingerprint.id

    @property
    def walks(self) -> tuple[tuple[str, tuple[StepRecord, ...]], ...]:
        """What reproduces it on a clean target: the journey that left the data first, if any."""
        own = ("the failing path", self.steps)
        if self.left_behind is None or not self.left_behind.steps:  # an earlier run's journey is not kept
            return (own,)
        setup = (f"setup: journey {self.left_behind.journey} of run {self.left_behind.run_id}, "
                 f"which left the data behind", self.left_behind.steps)
        return (setup, own)

    @property
    def failing_step(self) -> StepRecord:
        return self.steps[-1]
