"""After Hypothesis: drop every step the failure does not need.

Hypothesis shrinks data well, but it stops after a fixed number of successful
shrinks, and a long journey can use them up before every unneeded step is gone.
``drop_unneeded_steps`` finishes the job: it tries the path without each run of
one, two or three consecutive steps, and without each pair of steps (latest
first, never the failing one), replays it, and keeps the shorter path whenever
it still fails with the same fingerprint, until nothing more can go.
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
        for removed in _removals(len(best.steps) - 1):
            candidate = tuple(s for i, s in enumerate(best.steps) if i not in removed)
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


def _removals(count: int):
    """Sets of step positions to try without: runs of 1-3, then any pair; latest first."""
    for size in (1, 2, 3):
        for start in range(count - size, -1, -1):
            yield set(range(start, start + size))
    for second in range(count - 1, -1, -1):
        for first in range(second - 2, -1, -1):
            yield {first, second}
