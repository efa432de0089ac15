"""After Hypothesis: drop every step the failure does not need, simplify its data.

Hypothesis shrinks data well, but it stops after a fixed number of successful
shrinks, and a long journey can use them up before every unneeded step is gone.
``drop_unneeded_steps`` finishes the job: it tries the path without each run of
one, two or three consecutive steps, and without each pair of steps (latest
first, never the failing one), replays it, and keeps the shorter path whenever
it still fails with the same fingerprint, until nothing more can go.
``simplify_data`` then tries simpler values for the data the remaining steps
used (shorter strings, plainer characters, smaller numbers), keeping each one
that still fails the same way. Characters step down a ladder of encoding
boundaries, so a bug about Latin-1 ends on ``Ā`` (U+0100), the first
character outside it.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Iterator

import attrs

from .journey import StepFailure
from .records import StepRecord
from .replay import ReplayMismatch

__all__ = ["drop_unneeded_steps", "simplify_data"]

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


CHARACTER_LADDER = ("0", "a", "A", " ", "\x7f", "\x80", "\xff", "\u0100", "\u07ff", "\u0800", "\uffff",
                    "\U00010000")


def simplify_data(failure: StepFailure, replay: Replayer, *, max_replays: int = 300) -> StepFailure:
    best = failure
    replays = 0
    step_index = 0
    # A replay may fail earlier on the same fingerprint, so ``best`` can get
    # shorter while we walk it: indices and paths are checked against it each time.
    while step_index < len(best.steps) and replays < max_replays:
        for path in list(_leaf_paths(best.steps[step_index].data)):
            improved = True
            while improved and replays < max_replays and step_index < len(best.steps):
                improved = False
                try:
                    current = _get(best.steps[step_index].data, path)
                except (KeyError, IndexError, TypeError):
                    break
                for candidate in _simpler(current):
                    replays += 1
                    steps = list(best.steps)
                    data = copy.deepcopy(steps[step_index].data)
                    _set(data, path, candidate)
                    steps[step_index] = attrs.evolve(steps[step_index], data=data)
                    try:
                        outcome = replay(tuple(steps))
                    except ReplayMismatch:
                        outcome = None
                    if outcome is not None and outcome.fingerprint.id == best.fingerprint.id \
                            and len(outcome.steps) <= len(best.steps):
                        best = outcome
                        improved = True
                        break
                    if replays >= max_replays:
                        break
            if step_index >= len(best.steps):
                break
        step_index += 1
    return best


def _leaf_paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    if isinstance(value, dict):
        if "$resource" in value:
            return
        for key, inner in value.items():
            yield from _leaf_paths(inner, prefix + (key,))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _leaf_paths(inner, prefix + (index,))
    elif isinstance(value, (str, int)) and not isinstance(value, bool):
        yield prefix


def _get(value: Any, path: tuple) -> Any:
    for part in path:
        value = value[part]
    return value


def _set(value: Any, path: tuple, new: Any) -> None:
    for part in path[:-1]:
        value = value[part]
    value[path[-1]] = new


def _simpler(value: Any) -> Iterator[Any]:
    """Candidates simpler than ``value``, most ambitious first."""
    if isinstance(value, int):
        for candidate in (0, 1, value // 2, value - 1):
            if 0 <= candidate < value or (value < 0 and candidate > value):
                yield candidate
        return
    if len(value) > 1:
        yield value[:1]
        for index in range(len(value)):
            yield value[:index] + value[index + 1:]
    for index, char in enumerate(value):
        for simpler in CHARACTER_LADDER:
            if simpler < char:
                yield value[:index] + simpler + value[index + 1:]
