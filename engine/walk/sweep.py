"""Sweeping what runs left behind: the open entries of the clean-up ledger, sent again.

``journeys cleanup`` reads the ledger (``engine.store.ledger``), picks the open entries of runs that
are over (finished, or died on this host), and sends each one's clean-up request through the one
request path (allowed hosts, rate cap, breaker), newest first, so what was created last goes first
(a review before the account that wrote it). The ledger keeps no credential: an entry made by a
signed-in actor is sent as that actor once ``@model.cleanup_login`` has signed it in again, once
per actor per sweep. Every attempt is appended to the sweep's own ledger file, so a second sweep
finds nothing left to do; a 404 or 410 counts as removed (something else removed it first).
Nothing is retried that could do something twice: a request without an answer stays open.
"""

from __future__ import annotations

import uuid
from typing import Callable

import attrs

from engine.http.client import TargetClient
from engine.http.session import Session
from engine.model.declare import Model
from engine.model.step import StepContext, credential_header
from engine.store.ledger import LedgerEntry, LedgerWriter
from engine.walk.journey import JourneyRunner, Tagger

__all__ = ["Sweep", "SweepOutcome", "sweep_id"]


def sweep_id() -> str:
    return f"sweep-{uuid.uuid4().hex[:10]}"


@attrs.frozen
class SweepOutcome:
    """What became of one entry: removed (status), already gone (404/410), or not removed (why)."""

    entry: LedgerEntry
    removed: bool
    status: int | None
    reason: str = ""

    @property
    def already_gone(self) -> bool:
        return self.removed and self.status in (404, 410)


class Sweep:
    """Sends open ledger entries' clean-ups; ``run`` returns one outcome per entry."""

    def __init__(self, *, client: TargetClient, model: Model | None, ledger: LedgerWriter, run_id: str,
                 on_outcome: Callable[[SweepOutcome], None] = lambda outcome: None) -> None:
        self.client = client
        self.model = model
        self.ledger = ledger
        self.run_id = run_id
        self.on_outcome = on_outcome
        self._sessions: dict[str, Session | str] = {}  # actor -> its session, or why it has none

    def run(self, entries: list[LedgerEntry]) -> list[SweepOutcome]:
        outcomes = []
        for entry in entries:
            outcome = self._sweep(entry)
            if outcome.status is not None:
                self.ledger.write({"kind": "cleaned", "id": entry.id, "status": outcome.status,
                                   "ok": outcome.removed, "by": self.run_id}, run_id=self.run_id)
            outcomes.append(outcome)
            self.on_outcome(outcome)
        return outcomes

    def _sweep(self, entry: LedgerEntry) -> SweepOutcome:
        session = self._session(entry) if entry.signed_in else Session()
        if isinstance(session, str):
            return SweepOutcome(entry, removed=False, status=None, reason=session)
        headers = {}
        added = credential_header(session, {}, 0)
        if added is not None:
            headers[added[0]] = added[1]
        try:
            response, record = self.client.send(entry.method, entry.template, path_vars=entry.path_vars,
                                                headers=headers, action=f"clean-up of {entry.action}",
                                                session=session)
        except Exception as error:  # a refused host, the target down: the entry stays open
            return SweepOutcome(entry, removed=False, status=None, reason=f"{type(error).__name__}: {error}")
        if response is None:
            return SweepOutcome(entry, removed=False, status=None, reason=record.error or "no answer")
        status = response.status_code
        removed = status < 300 or status in (404, 410)
        return SweepOutcome(entry, removed=removed, status=status,
                            reason="" if removed else f"the target answered {status}")

    def _session(self, entry: LedgerEntry) -> Session | str:
        """The actor signed in again by the model's ``@model.cleanup_login`` (once per actor)."""
        actor = entry.actor
        if actor in self._sessions:
            return self._sessions[actor]
        login = self.model.cleanup_login_function if self.model is not None else None
        if self.model is None:
            found: Session | str = (f"{actor} was signed in; give the model (journeys cleanup MODEL) "
                                    "so its @model.cleanup_login can sign in again")
        elif login is None:
            found = (f"{actor} was signed in and model {self.model.name!r} declares no "
                     "@model.cleanup_login to sign in again after a crash")
        elif actor not in self.model.actors:
            found = f"model {self.model.name!r} has no actor {actor!r} any more"
        else:
            runner = JourneyRunner(model=self.model, client=self.client, emit=lambda event: None,
                                   run_id=self.run_id, journey=0, phase="sweep", known=frozenset(),
                                   tagger=Tagger(self.run_id))
            try:
                login(StepContext(runner, actor, f"cleanup_login:{login.__name__}"))
                found = runner.sessions[actor]
                if not found.signed_in and not len(found.cookies):
                    found = f"@model.cleanup_login did not sign {actor} in (no step.authenticate)"
            except Exception as error:
                found = f"could not sign in as {actor}: {type(error).__name__}: {error}"
        self._sessions[actor] = found
        return found
