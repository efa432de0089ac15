"""Left-behind state: a failure caused by data an earlier journey left on the target.

On a shared target one journey's data can break later ones: a review whose text
the recent-reviews widget cannot encode makes every later listing fail, for
every journey. Hypothesis then shrinks the failure to a path of one read that
creates nothing, which would send a developer looking in the wrong place.

``SessionHistory`` subscribes to the run's events and remembers, cheaply, what
that judgement needs: when each action last passed, when each fingerprint first
failed, which steps created data (tagged data, a produced resource or a
registered clean-up) and which of those clean-ups failed. ``left_behind`` then
says whether a failure is of this kind and names the step that most likely
created the data:

- the failure's minimal path creates nothing itself, and
- the failing action passed earlier in the session, before it first failed on
  a journey that had created nothing before the failing step, and
- some step created data from the journey of that last pass (whose clean-ups
  ran after it) to that first failure: the first such step whose clean-up
  failed, or else the first such step. The first, because once the offending
  data is there the action does not pass again, while the time from there to
  the first failure on an empty path can be long (shrinking another failure,
  say) and full of harmless leftovers.

The rule is a heuristic and says so in its evidence line; ``candidates`` lists
the journeys of that window for ``engine.failures.left_behind_experiment`` to confirm
one by experiment where the model can reset the target. A copy change
deployed mid-session, for instance, also makes an action that used to pass
fail on a path that creates nothing; it is labelled left-behind only when data
was created in that window, and the evidence says whether a clean-up failed.
"""

from __future__ import annotations

import pickle
import textwrap
import zlib
from array import array
from collections import OrderedDict, deque
from typing import Iterator, NamedTuple, Sequence

import attrs

from engine.events import CleanupFinished, Event, JourneyFinished, StepFinished
from engine.records import LeftBehind, StepRecord
from engine.redact import redact_text

__all__ = ["SessionHistory", "describe", "left_behind_note"]

KEEP_JOURNEYS = 300      # the latest whole journeys kept, to hand the creating one to a developer
KEEP_PINNED = 200        # and the latest journeys with a failed clean-up, however old
KEEP_CREATIONS = 10_000  # creating steps remembered, without the answers they got (see _slim)
CREATIONS_PER_CHUNK = 64  # creating steps packed together (and forgotten together, oldest first)
# What is kept is kept packed (pickled, then compressed): a finished journey of the demo is about
# 70 KiB of objects and 5 KiB packed; a slim creating step is 3 KiB of objects, 0.8 KiB packed
# alone and 0.15 KiB packed with 63 others like it. Unpacked only when a failure is judged, so a
# days-long run's memory stops growing once the bounds are reached, and reaches them at a
# fraction of the size.


def _pack(steps: Sequence[StepRecord]) -> bytes | list[StepRecord]:
    try:
        return zlib.compress(pickle.dumps(tuple(steps), protocol=pickle.HIGHEST_PROTOCOL), 1)
    except (pickle.PicklingError, TypeError, AttributeError):  # data a model drew that cannot be pickled
        return list(steps)


def _unpack(packed: bytes | list[StepRecord]) -> tuple[StepRecord, ...]:
    return tuple(packed) if isinstance(packed, list) else pickle.loads(zlib.decompress(packed))


class _Moment(NamedTuple):
    sequence: int  # order of the step among every step of the session
    journey: int


class _Chunk:
    """Up to ``CREATIONS_PER_CHUNK`` creating steps: where each was (in arrays of numbers) and the
    slim steps, as a list while the chunk fills, packed together once it is full."""

    __slots__ = ("sequences", "journeys", "indexes", "times", "steps")

    def __init__(self) -> None:
        self.sequences, self.journeys, self.indexes = array("q"), array("q"), array("q")
        self.times = array("d")
        self.steps: list[StepRecord] | bytes = []

    def __len__(self) -> int:
        return len(self.sequences)

    def add(self, sequence: int, journey: int, index: int, step: StepRecord, at: float) -> None:
        self.sequences.append(sequence)
        self.journeys.append(journey)
        self.indexes.append(index)
        self.times.append(at)
        self.steps.append(step)
        if len(self.steps) >= CREATIONS_PER_CHUNK:
            self.steps = _pack(self.steps)

    def step(self, position: int) -> StepRecord:
        return self.steps[position] if isinstance(self.steps, list) else _unpack(self.steps)[position]


class _Creation(NamedTuple):
    """A creating step, as ``_CreationLog`` hands it out (the step itself unpacked on demand)."""
    sequence: int
    journey: int
    index: int      # the step's index in its journey
    at: float
    chunk: _Chunk
    position: int

    @property
    def step(self) -> StepRecord:
        return self.chunk.step(self.position)


class _CreationLog:
    """The latest creating steps (slim, see ``_slim``), oldest first: at least ``keep`` of them
    once that many were made, at most ``keep`` plus two chunks' worth (whole chunks are forgotten)."""

    def __init__(self, keep: int) -> None:
        self._chunks: deque[_Chunk] = deque()
        self._keep_chunks = max(1, -(-keep // CREATIONS_PER_CHUNK)) + 1

    def append(self, sequence: int, journey: int, index: int, step: StepRecord, at: float) -> None:
        if not self._chunks or len(self._chunks[-1]) >= CREATIONS_PER_CHUNK:
            self._chunks.append(_Chunk())
            if len(self._chunks) > self._keep_chunks:
                self._chunks.popleft()
        self._chunks[-1].add(sequence, journey, index, step, at)

    def oldest_journey(self) -> int | None:
        """The journey of the oldest creating step kept (None before any)."""
        return self._chunks[0].journeys[0] if self._chunks and len(self._chunks[0]) else None

    def __iter__(self) -> Iterator[_Creation]:
        for chunk in list(self._chunks):
            for position, (sequence, journey, index, at) in enumerate(
                    zip(chunk.sequences, chunk.journeys, chunk.indexes, chunk.times)):
                yield _Creation(sequence, journey, index, at, chunk, position)


class _Failing(NamedTuple):
    failed: _Moment
    last_passed: _Moment | None  # the failing action's last pass before it
    explained: bool              # an earlier step of the same journey created data


class SessionHistory:
    """What the run walked, as far as left-behind state needs it; a bus subscriber."""

    def __init__(self, keep_journeys: int = KEEP_JOURNEYS, keep_creations: int = KEEP_CREATIONS) -> None:
        self.run_id = ""
        self._sequence = 0
        self._keep_journeys = keep_journeys
        # A journey's steps as a list while it runs, packed once it finished.
        self._journeys: OrderedDict[int, list[StepRecord] | bytes] = OrderedDict()
        self._pinned: OrderedDict[int, list[StepRecord] | bytes] = OrderedDict()
        self._last_pass: dict[str, _Moment] = {}
        self._failing: dict[int, _Failing] = {}   # journey -> its failing step, until it ends
        self._first_unexplained: dict[str, _Failing] = {}  # fingerprint -> first failure on a path
        #                                                     that created nothing before it
        self._creations = _CreationLog(keep_creations)
        self._failed_cleanups: OrderedDict[tuple[int, int], str] = OrderedDict()  # (journey, step) -> what
        self._keep_creations = keep_creations

    def handle(self, event: Event) -> None:
        if isinstance(event, StepFinished):
            self._step(event)
        elif isinstance(event, JourneyFinished):
            failing = self._failing.pop(event.journey, None)
            if event.fingerprint and failing is not None and not failing.explained:
                self._first_unexplained.setdefault(event.fingerprint, failing)
            steps = self._journeys.get(event.journey)
            if isinstance(steps, list):
                packed = self._journeys[event.journey] = _pack(steps)
                if event.journey in self._pinned:
                    self._pinned[event.journey] = packed
        elif isinstance(event, CleanupFinished):
            if not event.ok and event.created_by_step is not None:
                answer = f"answered {event.status}" if event.status is not None else "got no answer"
                self._failed_cleanups[(event.journey, event.created_by_step)] = (
                    f"{event.method} {event.path} {answer}")
                # Bounded: what no creating step kept refers to any more is forgotten, oldest first.
                oldest = self._creations.oldest_journey()
                while self._failed_cleanups and (len(self._failed_cleanups) > self._keep_creations or (
                        oldest is not None and next(iter(self._failed_cleanups))[0] < oldest)):
                    self._failed_cleanups.popitem(last=False)
                if event.journey in self._journeys:  # the likeliest to have left data: keep it whole
                    self._pinned[event.journey] = self._journeys[event.journey]
                    if len(self._pinned) > KEEP_PINNED:
                        self._pinned.popitem(last=False)

    def _step(self, event: StepFinished) -> None:
        self.run_id = event.run_id
        self._sequence += 1
        step = event.step
        moment = _Moment(self._sequence, event.journey)
        steps = self._journeys.get(event.journey)
        if not isinstance(steps, list):  # a new journey (or one walked again under its number)
            steps = self._journeys[event.journey] = list(_unpack(steps)) if steps is not None else []
            if len(self._journeys) > self._keep_journeys:
                self._journeys.popitem(last=False)
        steps.append(step)
        if step.outcome == "passed":
            self._last_pass[step.action] = moment
            if step.created:
                self._creations.append(self._sequence, event.journey, step.index, _slim(step), event.at)
        else:
            explained = any(earlier.created for earlier in steps[:-1])
            self._failing[event.journey] = _Failing(moment, self._last_pass.get(step.action), explained)

    def failed_before_passing(self, fingerprint: str) -> bool:
        """Whether the action ``fingerprint`` fails on first failed, on a path that created nothing, before
        it ever passed in this run: then only an earlier run can have left the data (``earlier_runs``)."""
        first = self._first_unexplained.get(fingerprint)
        return first is not None and first.last_passed is None

    def left_behind(self, fingerprint: str, steps: tuple[StepRecord, ...]) -> LeftBehind | None:
        """The step that most likely left the data ``fingerprint`` fails on, if the rule holds."""
        found = self._window(fingerprint, steps)
        if found is None:
            return None
        first, window = found
        passed, failed = first.last_passed, first.failed
        action = steps[-1].action
        with_failed_cleanup = [c for c in window if (c.journey, c.index) in self._failed_cleanups]
        if with_failed_cleanup:
            creation = with_failed_cleanup[0]
            cleanup = self._failed_cleanups[(creation.journey, creation.index)]
            evidence = (f"its clean-up {cleanup}; it is the first step with a failed clean-up after "
                        f"{action} last passed ({len(with_failed_cleanup)} before it first failed)")
        else:
            creation = window[0]
            evidence = (f"the first step that created data after {action} last passed "
                        f"(no failed clean-up was recorded; {len(window)} step(s) created data before it failed)")
        walked, index, _ = self._walked(creation)
        return LeftBehind(run_id=self.run_id, journey=creation.journey, step=index, created_at=creation.at,
                          evidence=evidence, last_passed_journey=passed.journey,
                          first_failed_journey=failed.journey, steps=walked)

    def candidates(self, fingerprint: str, steps: tuple[StepRecord, ...], limit: int = 5
                   ) -> list[tuple[int, tuple[StepRecord, ...]]]:
        """Journeys that created data in the window, likeliest first (a failed clean-up, then the
        order they ran in), each as it was walked: what an experiment re-creates."""
        found = self._window(fingerprint, steps)
        if found is None:
            return []
        _, window = found
        ranked = sorted(window, key=lambda c: ((c.journey, c.index) not in self._failed_cleanups, c.sequence))
        journeys: dict[int, tuple[StepRecord, ...]] = {}
        for creation in ranked:
            if creation.journey not in journeys and len(journeys) < limit:
                walked, _, whole = self._walked(creation)
                if whole or creation.index == 0:  # a later step alone cannot be walked from the start
                    journeys[creation.journey] = walked
        return list(journeys.items())

    def _window(self, fingerprint: str, steps: tuple[StepRecord, ...]):
        if any(step.created for step in steps):
            return None
        first = self._first_unexplained.get(fingerprint)
        if first is None or first.last_passed is None:
            return None
        # From the journey of the last pass on: its clean-ups ran after that pass, and a clean-up
        # that answered 204 can leave data behind as surely as one that failed.
        passed = first.last_passed
        window = [c for c in self._creations if c.sequence < first.failed.sequence
                  and (c.sequence > passed.sequence or c.journey == passed.journey)]
        return (first, window) if window else None

    def _walked(self, creation: _Creation) -> tuple[tuple[StepRecord, ...], int, bool]:
        """The creating journey up to its own new failure, if it had one (a setup walk that fails
        is no setup), the creating step's index in it, and whether the journey was kept whole."""
        kept = self._journeys.get(creation.journey) or self._pinned.get(creation.journey)
        journey = _unpack(kept) if kept is not None else ()
        if creation.index < len(journey):
            # A known failure met on the way did not end the journey; a new one did.
            end = next((i for i, s in enumerate(journey) if s.outcome == "failed"), len(journey))
            if creation.index < end:
                return journey[:end], creation.index, True
        return (creation.step,), 0, False  # that journey is too old to be kept whole: the creating step alone


def _slim(step: StepRecord) -> StepRecord:
    """A creating step as the window keeps it: what was sent, not what came back.

    Re-walking it (the setup of a left-behind reproduction, when its journey is too old to be
    kept whole) sends its requests again and reads the new answers; the bodies it got then are
    most of a record's size (about 4 KiB each in the demo), and a days-long run keeps thousands.
    """
    return attrs.evolve(step, requests=tuple(attrs.evolve(request, response_json=None, response_text="")
                                             for request in step.requests))


def describe(left_behind: LeftBehind) -> str:
    """One sentence: which step of which journey left the data (or most likely did), and why.

    Masked like every message shown or stored: the evidence quotes a clean-up's path.
    """
    step = left_behind.creating_step
    if step is None:  # traced through the clean-up ledger to an earlier run
        return redact_text(f"suspected: data left behind by an earlier run, most likely by journey "
                           f"{left_behind.journey} of run {left_behind.run_id}, step {left_behind.step + 1} "
                           f"({left_behind.actor} {left_behind.action}): {left_behind.evidence}")
    if left_behind.confirmed:
        return redact_text(f"data left behind by journey {left_behind.journey} of run {left_behind.run_id}, "
                           f"step {step.index + 1} ({step.actor} {step.action}), confirmed by experiment: "
                           f"{left_behind.evidence}")
    return redact_text(f"suspected: data left behind most likely by journey {left_behind.journey} of run "
                       f"{left_behind.run_id}, step {step.index + 1} ({step.actor} {step.action}): "
                       f"{left_behind.evidence}; the failing action last passed in journey "
                       f"{left_behind.last_passed_journey} and first failed in journey "
                       f"{left_behind.first_failed_journey}")


def left_behind_note(text: str, noun: str, width: int, *, setup: bool = True) -> list[str]:
    """The lines an exported ``noun`` ("test", "script") opens with: ``describe``'s ``text``
    (made safe for that file), and how the reproduction deals with it (``setup``: it walks the
    creating journey first; an earlier run's is not kept, so then it cannot)."""
    if not setup:
        return [*textwrap.wrap(f"Left-behind state: {text}.", width),
                f"That run's journeys are not kept, so the {noun} walks the failing path alone: it fails",
                "only where the data is still on the target, and passes on a clean one."]
    return [*textwrap.wrap(f"Left-behind state: {text}.", width),
            f"The {noun} walks that journey first (setup, with its clean-ups), then the failing",
            "path: on a clean target the failing path alone passes."]
