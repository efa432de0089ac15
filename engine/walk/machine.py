"""Compile a journey model into a Hypothesis test: one example is one journey.

The test (``CompiledWalk.test``) walks a journey from the start state, one step
after another up to ``--max-steps``; each step costs the same whatever the
model's size:

1. two draws of ``integers(0, 255)`` become a fraction, hashed with the picks
   before it and the round's number (``Picker``), so Hypothesis's habit of
   repeating values does not favour some actions, and the all-zero example
   Hypothesis starts every round with is not the same journey each round;
2. the engine lists the (actor, action) pairs that can run now (the actor is in
   a source state, the precondition holds, a resource is there to consume) and
   takes the one at that fraction of their summed weights, so weights are
   honoured and any number of actions can be chosen;
3. a third draw, a 32-bit seed mixed with the picks so far, seeds the draw of
   that action's data (``draw_apart``): Hypothesis's own provider, with its
   heuristics (boundaries, awkward text, the model's constants) and filters,
   on a choice sequence of its own. An action without data draws nothing, and
   a seed drawn again (Hypothesis walks known prefixes again) takes the data
   it drew before (``DrawnData``).

The three draws go straight to the example's ``ConjectureData``, inside a span
per step (so Hypothesis's mutations copy and swap whole steps), in a plain
``@given`` test. They were a rule of a ``RuleBasedStateMachine`` until
2026-12-08; its machinery (a stop draw, a rule draw, argument dictionaries,
timing and printing hooks) cost about 180 microseconds a step against about 40
here (Hypothesis alone, nothing sent); the in-process demo walk went from 944
to about 1,200 steps/s (README, *Speed*).
Both use Hypothesis internals (``ConjectureData``, spans), held by the version
pinned in ``constraints.txt``.

Every step makes the same three draws whatever the target answered, so the
*shape* of a journey's choices depends only on the choices before it, as
Hypothesis requires (a journey that has ended, on a failure or a spent budget,
draws on to its last step). A target that answers differently from one run of a
choice sequence to the next (a 503 keeps an actor where it was; data another
journey left) changes which action a pick chooses, never what Hypothesis sees.
When the data was drawn in the walk's own sequence its shape followed the
chosen action, and Hypothesis ended the round as Flaky each time it walked a
known prefix on a target that had changed: 20 rounds in 24 runs of the demo
(seeds 1-24, 40 journeys each, two bugs on). Over seeds 1-72 of such runs the
review bug was met in 69 walks, against 58 before.

What is given up: Hypothesis's mutations no longer copy one step's data into
another, and ``--strategy coverage`` targets the picks and seeds only. Data is
still simplified where it matters: Hypothesis never shrinks walks here
(``engine.walk.shrink`` does, with the engine's knowledge of the journey), and
``engine.walk.polish`` simplifies a failing path's data in a search of its own.
Hypothesis's one replay of a failing journey (to raise it) is answered by
``ReplayedJourney``, which chooses what the original chose and sends nothing.
"""

from __future__ import annotations

import copy
import random
from typing import Any, Callable, Protocol

from hypothesis import given, settings, strategies as st
from hypothesis.errors import StopTest, UnsatisfiedAssumption
from hypothesis.internal.conjecture.data import ConjectureData
from hypothesis.internal.conjecture.utils import calc_label_from_name

from engine.walk.hypothesis_control import seeded
from engine.walk.journey import JourneyRunner, StepFailure
from engine.model.declare import Action, Model, ResourceKind
from engine.records import Fingerprint

__all__ = ["JourneyFailed", "CompiledWalk", "DrawnData", "Session", "RESOURCE_PICK", "Picker", "action_strategy",
           "CHOICE_BUDGET", "CHOICE_LIMIT"]

RESOURCE_PICK = st.integers(0, 255)
_SEEDS = 2**32  # a step's third draw, with the picks so far, seeds the draw of its data
STEP_LABEL = calc_label_from_name("journeys: one step")
# Hypothesis's budget per example, in bytes of its choices serialized (a step's three draws take about
# 8): it discards an example that draws more. A journey takes no step past 80% of it, as stateful tests.
CHOICE_BUDGET = 8 * 1024
CHOICE_LIMIT = int(0.8 * CHOICE_BUDGET)
_MODULUS = 2**32
_MULTIPLIER = 1_000_003
_SCRAMBLE = 2_654_435_761  # odd: multiplying by it permutes 32-bit numbers
_OFFSET = 24_229


class JourneyFailed(Exception):
    """A journey step failed; subclassed once per fingerprint (see ``failure_class``)."""

    def __init__(self, failure: StepFailure) -> None:
        super().__init__(str(failure.fingerprint))
        self.failure = failure


_FAILURE_CLASSES: dict[str, type[JourneyFailed]] = {}


def failure_class(fingerprint: Fingerprint) -> type[JourneyFailed]:
    """One exception class per fingerprint: Hypothesis keys distinct bugs on the type."""
    cls = _FAILURE_CLASSES.get(fingerprint.id)
    if cls is None:
        cls = type(f"JourneyFailed_{fingerprint.id}", (JourneyFailed,), {"__module__": __name__})
        _FAILURE_CLASSES[fingerprint.id] = cls
    return cls


class Session(Protocol):
    """What the compiled walk needs from the explorer driving it."""

    round_number: int  # salts the picks of the round under way

    def start_journey(self) -> JourneyRunner: ...

    def end_journey(self, runner: JourneyRunner) -> StepFailure | None: ...

    def data_rejected(self, action: str) -> None: ...  # its strategies rejected every seed: the step is skipped


class Picker:
    """Turns each step's two drawn bytes into a fraction in [0, 1).

    The fraction hashes the bytes together with every pick before it in the
    journey, starting from a salt (the round's number): Hypothesis repeats values
    (each round starts with its simplest example, all zeros; its mutations copy
    spans of choices; about 5% of draws are constants), and a repeated value
    should not mean a repeated action or the same first journey in every round.
    It depends only on the salt and the draws, so the same choices in the same
    round always walk the same way (whatever the seed: the example database
    keeps each round's examples apart, and they replay as they were found).
    """

    def __init__(self, salt: int = 0) -> None:
        self.state = (_OFFSET + salt) % _MODULUS

    def fraction(self, high: int, low: int) -> float:
        self.state = (self.state * _MULTIPLIER + (high << 8 | low) + 1) % _MODULUS
        return ((self.state * _SCRAMBLE) % _MODULUS) / _MODULUS


def draw_apart(strategy: st.SearchStrategy, seed: int, attempts: int = 3) -> Any:
    """A value of ``strategy`` drawn by Hypothesis's own provider from a random seeded with ``seed``,
    outside the walk's choice sequence (None if the strategy rejected ``attempts`` seeds in a row)."""
    for attempt in range(attempts):
        data = ConjectureData(random=random.Random(seed + attempt))
        try:
            return data.draw(strategy)
        except (StopTest, UnsatisfiedAssumption):  # a filter or assume() rejected this seed's draw
            continue
    return None


class DrawnData:
    """Each action's data by the seed that draws it (``draw_apart``), the last ``kept`` draws remembered.

    Hypothesis walks prefixes it has walked before (its mutations keep the steps
    before the span they change), and a step's seed is mixed with the picks
    before it, so a prefix walked again draws the same data: about 40% of the
    data draws on the demo were repeats, each costing up to half a millisecond
    of text generation. An action without data takes ``{}`` and draws nothing
    (a ConjectureData costs ~15 us to set up). Values holding anything but
    plain scalars are handed out as copies: the model's code may change them.
    """

    def __init__(self, strategies: dict[str, st.SearchStrategy], kept: int = 4096) -> None:
        self.strategies = strategies
        self.kept = kept
        self._drawn: dict[tuple[str, int], Any] = {}  # oldest first

    def get(self, action: str, seed: int) -> dict[str, Any] | None:
        strategy = self.strategies.get(action)
        if strategy is None:
            return {}
        key = (action, seed)
        try:
            drawn = self._drawn[key]
        except KeyError:
            drawn = self._drawn[key] = draw_apart(strategy, seed)
            if len(self._drawn) > self.kept:
                del self._drawn[next(iter(self._drawn))]
        if drawn is None or all(type(value) in _SCALARS for value in drawn.values()):
            return drawn
        return copy.deepcopy(drawn)


_SCALARS = frozenset({str, int, float, bool, bytes, type(None)})


def action_strategy(action: Action) -> st.SearchStrategy[dict[str, Any]]:
    """One draw for all of an action's data: its strategies, and a pool position per resource."""
    return st.fixed_dictionaries({key: RESOURCE_PICK if isinstance(value, ResourceKind) else value
                                  for key, value in action.data.items()})


class CompiledWalk:
    """A model compiled for Hypothesis: ``test(...)`` is one search of journeys, one journey per example."""

    def __init__(self, model: Model, session: Session) -> None:
        self.session = session
        self.drawn = DrawnData({action.name: action_strategy(action) for action in model.actions if action.data})

    def test(self, *, max_steps: int, config: settings, seed: int) -> Callable[[], None]:
        """A Hypothesis test walking journeys of at most ``max_steps`` steps (call it to run the search)."""
        walk = self.walk

        def journeys(data: st.DataObject) -> None:
            walk(data.conjecture_data, max_steps)

        # Seeded inside the settings: ``hypothesis.seed`` turns the example database off in the settings
        # it finds, and the round's ``config`` (with the database) is applied after it.
        return config(given(st.data())(seeded(journeys, seed)))

    def walk(self, data: ConjectureData, max_steps: int) -> None:
        """One journey: ``max_steps`` steps of three draws each, whatever the target answers."""
        session, drawn_data = self.session, self.drawn
        runner = session.start_journey()
        picker = Picker(session.round_number)
        try:
            for _ in range(max_steps):
                if data.length > CHOICE_LIMIT:  # past this Hypothesis would discard the example
                    break
                data.start_span(STEP_LABEL)  # Hypothesis's mutations swap and copy whole steps
                high = data.draw_integer(0, 255)
                low = data.draw_integer(0, 255)
                seed = data.draw_integer(0, _SEEDS - 1)
                data.stop_span()
                chosen = runner.choose(picker.fraction(high, low))
                if chosen is None:
                    continue
                actor, action = chosen
                drawn = drawn_data.get(action.name, picker.state << 32 | seed)
                if drawn is None:
                    session.data_rejected(action.name)
                else:
                    runner.attempt(actor, action, drawn)
        finally:
            failure = session.end_journey(runner)
        if failure is not None:
            raise failure_class(failure.fingerprint)(failure)

