"""Continuous runs take up the failures other runs store while they go on.

Two processes exploring the same model into one store (two workers, a nightly
run beside a continuous one) would otherwise each shrink, replay and report
the same failure. Every ``every_s`` (checked before an exploring journey
starts, never in the middle of one) the run reads the store's known failures
of its model again; one it does not know yet (not found by this run, not
being investigated) becomes known as if the run had started with it: a
journey that meets it records an occurrence and goes on, and the re-checks
include it. The store being compacted or half-written at that moment is no
error: the next read sees it.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

from engine.events import Event, Notice
from engine.records import Failure

__all__ = ["KnownRefresh", "REFRESH_EVERY_S"]

REFRESH_EVERY_S = 60.0


class KnownRefresh:
    def __init__(self, fetch: Callable[[], Iterable[Failure]] | None, *, every_s: float | None,
                 investigator, emit: Callable[[Event], None], run_id: str,
                 token: Callable[[], object] | None = None) -> None:
        self.fetch = fetch if every_s else None
        self.token = token  # changes when the store may hold new failures: unchanged, nothing is read
        self._token: object = None
        self.every_s = every_s or 0.0
        self.investigator = investigator
        self.emit = emit
        self.run_id = run_id
        self._next = time.monotonic() + self.every_s  # the run read the store when it started

    def maybe(self) -> None:
        """Read the store again if it is time; carry what other runs found since."""
        if self.fetch is None or time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self.every_s
        token = self.token() if self.token is not None else None
        if token is not None and token == self._token:
            return  # no failure stored since the last read
        try:
            stored = tuple(self.fetch())
        except Exception:  # noqa: BLE001 - a store mid-compaction, a file being written: next time
            return
        self._token = token
        busy = self.investigator
        new = [f for f in stored if f.id not in busy.known and f.id not in busy.held and f.id not in busy.met]
        if not new:
            return
        busy.carry(new)
        listed = ", ".join(f"{f.id} ({f.fingerprint.action})" for f in new)
        self.emit(Notice(run_id=self.run_id, message=(
            f"{len(new)} failure(s) another run stored are known now: {listed}; journeys that meet them "
            "record an occurrence and go on")))
