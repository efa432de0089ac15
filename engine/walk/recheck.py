"""Re-checking the failures a continuous run carries from the store: still failing, fixed, regressed.

A continuous run (``explore --forever``) does not shrink or report again what the store already
knows; instead, at its start and then every ``recheck_every_s``, it replays each carried failure's
minimal path a few times (``replay_stored``: the exported form, through the run's own request path,
so the rate cap and the schedule hold). Each re-check is a ``ReplayFinished`` the store keeps, and
the store's ``failure_lifecycle`` view moves with it: *fixed* when a re-check passes, *regressed*
when a fixed failure fails again. Whether it fails again by a re-check or by an exploring journey
meeting it, the run emits ``FailureRegressed`` once per failure.
"""

from __future__ import annotations

import time
from typing import Callable

from engine.events import Event, FailureRegressed, ReplayFinished
from engine.failures.stored import replay_stored
from engine.http.breaker import TargetDown
from engine.http.client import TargetClient
from engine.model.declare import Model
from engine.records import Failure

__all__ = ["Rechecks"]


class Rechecks:
    """When the carried failures are due a re-check, and what each one's state is in this run."""

    def __init__(self, *, model: Model, client: TargetClient, emit: Callable[[Event], None], run_id: str,
                 target_label: str, every_s: float | None, times: int,
                 carried: Callable[[], dict[str, Failure]], fixed: frozenset[str] = frozenset()) -> None:
        self.model = model
        self.client = client
        self.emit = emit
        self.run_id = run_id
        self.target_label = target_label
        self.every_s = every_s  # None: never
        self.times = times
        self.carried = carried
        self.fixed: set[str] = set(fixed)  # fixed as far as this run knows (the store said so, or a re-check)
        self.regressed: dict[str, None] = {}
        self.last: float | None = None  # monotonic time of the last complete re-check
        self.verdicts: dict[str, str] = {}

    def due(self) -> bool:
        if self.every_s is None or not self.carried():
            return False
        return self.last is None or time.monotonic() - self.last >= self.every_s

    def run(self, late: Callable[[], bool]) -> None:
        """Re-check every carried failure (not past the run's deadline); a pause or an outage
        postpones the rest to the next round."""
        for fingerprint, failure in list(self.carried().items()):
            if late():
                return
            try:
                finished = replay_stored(failure, model=lambda: self.model, client=self.client,
                                         target_label=self.target_label, times=self.times, emit=self.emit,
                                         run_id=self.run_id)
            except TargetDown:
                return  # waited out by the next journey; re-checked next round
            self.verdicts[fingerprint] = finished.verdict
            self._after(failure, finished)
        self.last = time.monotonic()

    def _after(self, failure: Failure, finished: ReplayFinished) -> None:
        if finished.verdict == "fixed":
            self.fixed.add(failure.id)
        elif finished.verdict in ("still failing", "flaky"):
            self.failed_again(failure.id, f"re-check: {finished.verdict} ({finished.replays_failed} of "
                                          f"{finished.replays_run} replays failed)")

    def failed_again(self, fingerprint: str, how: str) -> None:
        """A carried failure failed (a re-check, or an exploring journey met it)."""
        if fingerprint not in self.fixed or fingerprint in self.regressed:
            return
        self.fixed.discard(fingerprint)
        self.regressed[fingerprint] = None
        failure = self.carried().get(fingerprint)
        summary = f"{failure.fingerprint.action}: {failure.fingerprint.check}" if failure else fingerprint
        self.emit(FailureRegressed(run_id=self.run_id, fingerprint=fingerprint, summary=summary, how=how))
