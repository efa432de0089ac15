"""Left-behind state from an earlier run: traced through the store's clean-up ledger.

``engine.failures.left_behind`` judges from what this run walked: the failing
action passed, then data was created, then it failed on a path that creates
nothing. A run that starts on a target an earlier run (killed, or whose
clean-ups were refused) left data on sees the action fail from its first call,
with nothing of its own to blame. The store remembers the rest:

- the steps table says when the failing action last passed on this target, in
  any earlier run of the model;
- the clean-up ledger lists what each run created after that (every registered
  clean-up and ``step.created``), with its run, journey, step, actor and action,
  and which of those were never removed.

The suspect is the first entry still open after that last pass (nothing proved
it removed), or else the first entry at all, as the in-run rule picks the first
creating step with a failed clean-up, or else the first. The verdict is always
*suspected*: that run's journeys are not kept, so there is no setup to walk and
no experiment to confirm it; ``journeys cleanup --run ID`` removes what is open.
"""

from __future__ import annotations

import time
from pathlib import Path

from engine.errors import JourneysError
from engine.records import LeftBehind, StepRecord
from engine.store.ledger import LedgerEntry, read_ledger
from engine.store.reader import connect

__all__ = ["EarlierRuns"]

_LAST_PASS = """
    SELECT s.run_id, s.journey, epoch(s.finished_at) FROM steps s JOIN runs_started r USING (run_id)
    WHERE s.action = ? AND s.outcome = 'passed' AND r.target = ? AND r.model = ? AND s.run_id <> ?
    ORDER BY s.finished_at DESC LIMIT 1
"""


class EarlierRuns:
    """What earlier runs on the same store and target left there, asked when a failure is judged."""

    def __init__(self, store_root: str | Path, *, target: str, model: str, run_id: str) -> None:
        self.store_root = Path(store_root)
        self.target = target
        self.model = model
        self.run_id = run_id
        self.started = time.time()

    def left_behind(self, steps: tuple[StepRecord, ...], *, first_failed_journey: int) -> LeftBehind | None:
        """The earlier run's step that most likely left the data the path's last step fails on."""
        if any(step.created for step in steps):
            return None
        action = steps[-1].action
        try:
            found = connect(str(self.store_root)).execute(
                _LAST_PASS, [action, self.target, self.model, self.run_id]).fetchone()
        except JourneysError:  # no store yet: nothing earlier
            return None
        if found is None:
            return None  # it never passed here: nothing says data broke it
        passed_run, passed_journey, passed_at = found
        ledger = read_ledger(self.store_root)
        window = sorted((entry for entry in ledger.entries.values()
                         if entry.run_id != self.run_id and entry.registered_at < self.started
                         and ledger.runs.get(entry.run_id) is not None
                         and ledger.runs[entry.run_id].target == self.target
                         and (entry.registered_at > passed_at
                              or (entry.run_id, entry.journey) == (passed_run, passed_journey))),
                        key=lambda entry: (entry.registered_at, entry.id))
        if not window:
            return None
        still_open = [entry for entry in window if entry.state == "open"]
        suspect = (still_open or window)[0]
        if still_open:
            evidence = (f"{_what(suspect)} is still open in the clean-up ledger (nothing proved it removed); it is "
                        f"the first open entry after {action} last passed (journey {passed_journey} of run "
                        f"{passed_run}), {len(still_open)} open before this run started; "
                        f"`journeys cleanup --run {suspect.run_id}` sends what is open")
        else:
            evidence = (f"the first clean-up the ledger lists after {action} last passed (journey {passed_journey} "
                        f"of run {passed_run}): {_what(suspect)}; every entry of that window was removed, so "
                        f"the data may be something no clean-up covers ({len(window)} entries in the window)")
        return LeftBehind(run_id=suspect.run_id, journey=suspect.journey, step=suspect.step,
                          created_at=suspect.registered_at, evidence=evidence, last_passed_journey=passed_journey,
                          first_failed_journey=first_failed_journey, actor=suspect.actor, action=suspect.action,
                          created_by=f"{suspect.method} {suspect.path}")


def _what(entry: LedgerEntry) -> str:
    return f"its clean-up {entry.method} {entry.path}"
