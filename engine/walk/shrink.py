"""Shrink a failing journey with what the engine knows about it, within a request budget.

Every replay is load on the target, so shrinking works from knowledge first
and from trial second, and stops when its budget is spent:

1. **Slice.** A step depends on the steps that produced the resources it
   consumed, on the step that brought its actor into the state it left from,
   and on the last steps that wrote the memory keys its precondition read
   (*narrow*) or its code read too (*wide*). The failing step and what it
   transitively depends on is often the minimal path already; one replay
   confirms it. If neither slice fails alone, the failure may hang on data an
   earlier step left on the target: the narrow slice with each step that
   created data (latest first) is tried next.
2. **Delete.** If the slice does not fail the same way (the failure hangs on
   the target's own state, such as data an earlier step stored), the whole
   journey is replayed once to see that it fails again, and chunks of steps
   are deleted ddmin-style, halving the chunk size, latest chunks first.
   Candidates that cannot be walked (a step's actor would not be in its
   source state, a consumed resource would be missing) are skipped without a
   request.
3. **Merge and split actors.** Two actors where one would do are tried as
   one (the steps that then cannot run, such as a second sign-up, left out);
   an actor who went back to the start state (logged out, deleted the account)
   and carried on is tried as two actors, without that step.
4. **Prove.** A path is called minimal once removing any single step was
   tried and none still failed the same way (and ``engine.walk.polish`` found that
   no single step or pair of steps can go even with fresh data). A spent budget (``--shrink-budget``
   requests, or the run's ``--duration``) keeps the smallest path so far,
   marked not proven minimal.

The data of the remaining steps is simplified afterwards by Hypothesis itself
(``engine.walk.polish``), so it stays inside what the strategies generate.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable

import attrs

from engine.walk.journey import StepFailure
from engine.records import StepRecord
from engine.walk.replay import ReplayMismatch
from engine.http.client import TargetClient

__all__ = ["Budget", "Shrunk", "shrink", "dependency_slice", "slices", "walkable", "not_minimal_note"]

Replayer = Callable[[tuple[StepRecord, ...]], StepFailure | None]
Sources = Callable[[str], tuple[str, ...]]  # an action's source states, by name


class Budget:
    """Requests one failure may spend on shrinking (and a deadline shared with the run)."""

    def __init__(self, requests: int, client: TargetClient, deadline: float | None = None) -> None:
        self.requests = requests
        self.client = client
        self.deadline = deadline  # time.monotonic() value, or None
        self.start = client.requests_sent

    @property
    def used(self) -> int:
        return self.client.requests_sent - self.start

    @property
    def spent(self) -> bool:
        late = self.deadline is not None and time.monotonic() >= self.deadline
        return late or self.used >= self.requests


@attrs.frozen
class Shrunk:
    failure: StepFailure   # the smallest path that failed the same way (or the original)
    reproduced: bool       # a replay failed the same way again
    minimal: bool          # every single-step removal was tried and none still failed
    replays: int
    notes: tuple[str, ...] = ()


def dependency_slice(steps: tuple[StepRecord, ...], start: str, *, of: int | None = None,
                     wide: bool = False, sources: Sources | None = None) -> list[int]:
    """Positions of step ``of`` (default: the last) and of every step it transitively depends on.

    Narrow: consumed resources, the step that brought the actor into its source
    state, and the last writers of what its precondition read. Wide: also the
    last writers of what its code read. With ``sources``, a step whose action can
    also leave the start state needs no step to bring its actor anywhere (the
    narrowest slice: the actor simply has not moved yet).
    """
    first = len(steps) - 1 if of is None else of
    keep = {first}
    work = [first]
    while work:
        position = work.pop()
        for needed in _dependencies(steps, position, start, wide, sources):
            if needed not in keep:
                keep.add(needed)
                work.append(needed)
    return sorted(keep)


def slices(steps: tuple[StepRecord, ...], start: str, sources: Sources, *,
           creators: int = 4) -> list[list[int]]:
    """Candidate paths for the failing (last) step, cheapest guess first, each tried with one replay.

    The narrowest slice, the narrow one, the wide one, the one with the last writer
    of each key read per action, then the narrow slice with
    one step that left data on the target (latest first): a failure often hangs
    on data an earlier step stored, which no recorded dependency shows. Last,
    every step that changed something on the target (a request other than GET
    or HEAD that passed), with what those depend on: the journey without its
    reads, often half of it, for the deletions that follow.
    """
    narrow = dependency_slice(steps, start)
    found = [dependency_slice(steps, start, sources=sources), narrow,
             dependency_slice(steps, start, wide=True)]
    # What the target keeps shows only through what each kind of step last did to it: the last
    # writer of each key the failing step read, per action (the last add, coupon and removal of a cart).
    kinds = set(narrow)
    for i in _last_writers_per_action(steps, len(steps) - 1):
        kinds |= set(dependency_slice(steps, start, of=i))
    found.append(sorted(kinds))
    made = [i for i in range(len(steps) - 2, -1, -1) if steps[i].created and i not in narrow][:creators]
    found += [sorted(set(narrow) | set(dependency_slice(steps, start, of=i))) for i in made]
    changes = set(narrow)
    for i in range(len(steps) - 1):
        if steps[i].outcome == "passed" and any(r.method not in ("GET", "HEAD") for r in steps[i].requests):
            changes |= set(dependency_slice(steps, start, of=i))
    found.append(sorted(changes))
    unique: list[list[int]] = []
    for candidate in found:
        if candidate not in unique and len(candidate) < len(steps):
            unique.append(candidate)
    return unique


def _dependencies(steps: tuple[StepRecord, ...], position: int, start: str, wide: bool,
                  sources: Sources | None) -> set[int]:
    step = steps[position]
    index_of = {s.index: i for i, s in enumerate(steps)}
    needed = {index_of[i] for i in step.consumed if i in index_of}
    for key in (*step.requires, *(step.reads if wide else ())):
        needed |= _last_writers(steps, position, step.actor, key)
    if sources is not None and start in sources(step.action):
        return needed
    setter = _state_setter(steps, position, start)
    if setter is not None:
        needed.add(setter)
    elif step.source != start:  # nothing recorded brought the actor here: keep what it did before
        needed |= {i for i in range(position) if steps[i].actor == step.actor}
    return needed


def _last_writers_per_action(steps: tuple[StepRecord, ...], position: int) -> set[int]:
    """For each key step ``position`` read, the latest earlier step of each action that wrote it."""
    step = steps[position]
    found: set[int] = set()
    for key in {*step.reads, *step.requires}:
        shared = key.startswith("shared:")
        actions: set[str] = set()
        for i in range(position - 1, -1, -1):
            earlier = steps[i]
            if (shared or earlier.actor == step.actor) and earlier.action not in actions and key in earlier.writes:
                actions.add(earlier.action)
                found.add(i)
    return found


def _last_writers(steps: tuple[StepRecord, ...], position: int, actor: str, key: str) -> set[int]:
    shared = key.startswith("shared:")
    everything = key.endswith("*")
    found: set[int] = set()
    seen: set[str] = set()
    for i in range(position - 1, -1, -1):
        earlier = steps[i]
        if not shared and earlier.actor != actor:
            continue
        for written in earlier.writes:
            if written.startswith("shared:") != shared:
                continue
            if everything and written not in seen:
                seen.add(written)
                found.add(i)
            elif written == key:
                return {i}
    return found


def _state_setter(steps: tuple[StepRecord, ...], position: int, start: str) -> int | None:
    """The latest earlier step that moved the actor into the state this step left from.

    None when the actor is in the start state, where every actor begins anyway.
    """
    step = steps[position]
    for i in range(position - 1, -1, -1):
        earlier = steps[i]
        if earlier.actor == step.actor and earlier.outcome == "passed" and earlier.source != earlier.target:
            return i if earlier.target == step.source and earlier.target != start else None
    return None


def walkable(steps: Iterable[StepRecord], start: str, sources: Sources) -> bool:
    """Whether a candidate path can be walked at all, judged from the recorded states and resources."""
    states: dict[str, str] = {}
    present: set[int] = set()
    for step in steps:
        state = states.get(step.actor, start)
        if state not in sources(step.action):
            return False
        if state != step.source:  # a self-loop from elsewhere stays there; anything else moves on
            step_target = state if step.source == step.target else step.target
        else:
            step_target = step.target
        if any(i not in present for i in step.consumed):
            return False
        present.add(step.index)
        states[step.actor] = step_target
    return True


def shrink(failure: StepFailure, replay: Replayer, budget: Budget, *, start: str, sources: Sources,
           actors: tuple[str, ...] = ()) -> Shrunk:
    fingerprint = failure.fingerprint.id
    replays = 0
    inconclusive = False  # the last replay could not walk to the failing step

    def same(candidate: tuple[StepRecord, ...]) -> StepFailure | None:
        nonlocal replays, inconclusive
        replays += 1
        inconclusive = False
        try:
            outcome = replay(candidate)
        except ReplayMismatch:
            inconclusive = True
            return None
        if outcome is not None and outcome.fingerprint.id == fingerprint and len(outcome.steps) <= len(candidate):
            return outcome
        inconclusive = outcome is not None and len(outcome.steps) < len(candidate)  # another failure came first
        return None

    def tried(candidate: tuple[StepRecord, ...], tries: int) -> StepFailure | None:
        """Replay up to ``tries`` times while another failure cuts it short (a 503 on the way)."""
        for _ in range(tries):
            if budget.spent:
                return None
            outcome = same(candidate)
            if outcome is not None or not inconclusive:
                return outcome
        return None

    steps = failure.steps
    best = None
    for candidate in slices(steps, start, sources):
        best = tried(tuple(steps[i] for i in candidate), 2)
        if best is not None or budget.spent:
            break
    if best is None:
        best = tried(steps, 3)
    if best is None:
        why = ("the shrink budget was spent before a replay" if budget.spent else
               "neither the whole journey nor a slice of it by its recorded dependencies failed the same "
               "way when replayed")
        return Shrunk(failure=failure, reproduced=False, minimal=False, replays=replays, notes=(why,))
    best, minimal = _delete_chunks(best, same, budget, start, sources)
    while minimal and not budget.spent:
        changed = (_merge_actors(best, same, budget, start, sources)
                   or _split_actor(best, same, budget, start, sources, actors))
        if changed is None:
            break
        best, minimal = _delete_chunks(changed, same, budget, start, sources)
    notes = () if minimal else (not_minimal_note(budget),)
    return Shrunk(failure=best, reproduced=True, minimal=minimal, replays=replays, notes=notes)


def not_minimal_note(budget: Budget) -> str:
    return f"not proven minimal: the shrink budget ({budget.requests} requests) or the run's duration was spent"


def _merge_actors(best: StepFailure, same: Callable, budget: Budget, start: str,
                  sources: Sources) -> StepFailure | None:
    """Two actors where one would do (one joins, the other shelves a book, the first reads the
    shelf): give one actor's steps to the other and leave out the steps that then cannot run
    (the second sign-up). One replay per pair of actors; the shorter path if one still fails."""
    used = list(dict.fromkeys(step.actor for step in best.steps))
    for keep in used:
        for gone in used:
            if gone == keep:
                continue
            relabelled = [attrs.evolve(s, actor=keep) if s.actor == gone else s for s in best.steps]
            candidate = _walkable_part(relabelled, start, sources)
            if candidate is None or len(candidate) >= len(best.steps) or budget.spent:
                continue
            outcome = same(candidate)
            if outcome is not None:
                return outcome
    return None


def _walkable_part(steps: list[StepRecord], start: str, sources: Sources) -> tuple[StepRecord, ...] | None:
    """``steps`` without those that cannot run where their actor is by then; None if the last cannot."""
    kept: list[StepRecord] = []
    for position, step in enumerate(steps):
        if walkable((*kept, step), start, sources):
            kept.append(step)
        elif position == len(steps) - 1:
            return None
    return tuple(kept)


def _split_actor(best: StepFailure, same: Callable, budget: Budget, start: str, sources: Sources,
                 actors: tuple[str, ...]) -> StepFailure | None:
    """One actor who went back to the start state (logged out, deleted the account) and carried
    on may as well be two people: drop that step and hand what came after to an actor the path
    does not use. One replay per such step; the shorter path if one still fails the same way."""
    unused = [actor for actor in actors if all(step.actor != actor for step in best.steps)]
    if not unused:
        return None
    for position in range(len(best.steps) - 2, -1, -1):
        step = best.steps[position]
        if step.target != start or step.source == start:
            continue
        later = [attrs.evolve(s, actor=unused[0]) if s.actor == step.actor else s
                 for s in best.steps[position + 1:]]
        candidate = (*best.steps[:position], *later)
        if not walkable(candidate, start, sources) or budget.spent:
            continue
        outcome = same(candidate)
        if outcome is not None:
            return outcome
    return None


def _delete_chunks(best: StepFailure, same: Callable, budget: Budget, start: str,
                   sources: Sources) -> tuple[StepFailure, bool]:
    """The smallest path found, and whether it is proven 1-minimal (no single step can go)."""
    size = max(1, (len(best.steps) - 1) // 2)
    while True:
        progress = False
        count = len(best.steps) - 1  # the failing step always stays
        for begin in range(max(0, count - size), -1, -size) if count > 0 else ():
            removed = set(range(begin, min(begin + size, count)))
            candidate = tuple(s for i, s in enumerate(best.steps) if i not in removed)
            if not walkable(candidate, start, sources):
                continue
            if budget.spent:
                return best, False
            outcome = same(candidate)
            if outcome is not None:
                best, progress = outcome, True
                break
        if progress:
            size = min(size, max(1, (len(best.steps) - 1) // 2))
        elif size == 1:
            return best, True
        else:
            size = max(1, size // 2)
