"""After Hypothesis: drop every step the failure does not need.

Hypothesis shrinks data well, but it stops after a fixed number of successful
shrinks, and a long journey can use them up before every unneeded step is gone.
``drop_unneeded_steps`` finishes the job: it tries the path without each step
(latest first, never the failing one), replays it, and keeps the shorter path
whenever it still fails with the same fingerprint, until no single step can go.
"""

from __future__ import annotations

from typing import Callable

from .journey import StepFailure
from .records import StepRecord
from .replay import ReplayMismatch

__all__ = ["drop_unneeded_steps"]

Replayer = Callable[[tuple[StepRecord, ...]], StepFailure | None]


def drop_unneeded_steps(failure: StepFailure, replay: Replayer, *, max_replays: int = 400) -> StepFailure:
    best = failure
    replays = 0
    progress = True
    while progress and replays < max_replays:
        progress = False
        for index in range(len(best.steps) - 2, -1, -1):
            candidate = best.steps[:index] + best.steps[index + 1:]
            replays += 1
            try:
                outcome = replay(candidate)
            except ReplayMismatch:
                continue
            if outcome is not None and outcome.fingerprint.id == best.fingerprint.id \
                    and len(outcome.steps) < len(best.steps):
                best = outcome
                progress = True
                break
            if replays >= max_replays:
                break
    return best
