"""Left-behind state from an earlier run: traced through the store's clean-up ledger.

``engine.failures.left_behind`` judges from what this run walked: the failing
action passed, then data was created, then it failed on a path that creates
nothing. A run that starts on a target an earlier run (killed, or whose
clean-ups were refused) left data on sees the action fail from its first call,
with nothing of its own to blame. The store remembers the rest:

- the steps table says when the failing action last passed on this target, in
  any earlier run of the model, and the journeys table when a journey of an
  earlier run first met the same failure after that: the same window as the
  in-run rule, spread over runs. An earlier run that never met the failure
  says nothing (a deploy between the runs is as likely a cause as data);
- the clean-up ledger lists what runs created in that window (every
  registered clean-up and ``step.created``), with its run, journey, step,
  actor and action, and which of those were never removed.

The window includes the steps of that first failing journey before its failing
step: the journey that first met the failure may have created the data itself
(it posted the review, then read the list it broke) and left it when its
clean-up failed. Excluding it, as this did until 2026-12-08, blamed whatever
else was open when the walk happened to create the data there.

The suspect is the first entry of the window still open (nothing proved it
removed), or else the first entry, as the in-run rule picks the first creating
step with a failed clean-up, or else the first. The verdict is always
*suspected*: that run's journeys are not kept, so there is no setup to walk and
no experiment to confirm it; ``journeys cleanup --run ID`` removes what is open.
"""

from __future__ import annotations

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
_FIRST_FAILURE_AFTER = """
    SELECT j.run_id, j.journey, epoch(j.finished_at),
           (SELECT min(s.step) FROM steps s WHERE s.run_id = j.run_id AND s.journey = j.journey
            AND s.action = ? AND s.outcome IN ('failed', 'known'))
    FROM journeys j JOIN runs_started r USING (run_id)
    WHERE j.fingerprint = ? AND r.target = ? AND r.model = ? AND j.run_id <> ? AND epoch(j.finished_at) > ?
    ORDER BY j.finished_at LIMIT 1
"""


class EarlierRuns:
    """What earlier runs on the same store and target left there, asked when a failure is judged."""

    def __init__(self, store_root: str | Path, *, target: str, model: str, run_id: str) -> None:
        self.store_root = Path(store_root)
        self.target = target
        self.model = model
        self.run_id = run_id

    def left_behind(self, fingerprint: str, steps: tuple[StepRecord, ...]) -> LeftBehind | None:
        """The earlier run's step that most likely left the data the path's last step fails on."""
        if any(step.created for step in steps):
            return None
        action = steps[-1].action
        which = [self.target, self.model, self.run_id]
        try:
            connection = connect(str(self.store_root))
        except JourneysError:  # no store yet: nothing earlier
            return None
        try:
            passed = connection.execute(_LAST_PASS, [action, *which]).fetchone()
            failed = passed and connection.execute(_FIRST_FAILURE_AFTER,
                                                   [action, fingerprint, *which, passed[2]]).fetchone()
        finally:
            connection.close()
        if not passed or not failed:
            return None  # it never passed here, or no earlier run met it since: nothing says data broke it
        (passed_run, passed_journey, passed_at), (failed_run, failed_journey, failed_at, failed_step) = passed, failed
        ledger = read_ledger(self.store_root)
        window = sorted((entry for entry in ledger.entries.values()
                         if entry.run_id != self.run_id and entry.registered_at < failed_at
                         and ((entry.run_id, entry.journey) != (failed_run, failed_journey)  # or before its failing step
                              or (failed_step is not None and entry.step < failed_step))
                         and ledger.runs.get(entry.run_id) is not None
                         and ledger.runs[entry.run_id].target == self.target
                         and (entry.registered_at > passed_at
                              or (entry.run_id, entry.journey) == (passed_run, passed_journey))),
                        key=lambda entry: (entry.registered_at, entry.id))
        if not window:
            return None
        still_open = [entry for entry in window if entry.state == "open"]
        suspect = (still_open or window)[0]
        window_text = (f"after {action} last passed (journey {passed_journey} of run {passed_run}) and before "
                       f"it first failed the same way (journey {failed_journey} of run {failed_run})")
        if still_open:
            evidence = (f"{_what(suspect)} is still open in the clean-up ledger (nothing proved it removed); it is "
                        f"the first open entry {window_text}, {len(still_open)} open in that window; "
                        f"`journeys cleanup --run {suspect.run_id}` sends what is open")
        else:
            evidence = (f"the first clean-up the ledger lists {window_text}: {_what(suspect)}; every entry of that "
                        f"window was removed, so the data may be something no clean-up covers ({len(window)} "
                        "entries in the window)")
        return LeftBehind(run_id=suspect.run_id, journey=suspect.journey, step=suspect.step,
                          created_at=suspect.registered_at, evidence=evidence, last_passed_journey=passed_journey,
                          first_failed_journey=failed_journey, actor=suspect.actor, action=suspect.action,
                          created_by=f"{suspect.method} {suspect.path}")


def _what(entry: LedgerEntry) -> str:
    return f"its clean-up {entry.method} {entry.path}"
