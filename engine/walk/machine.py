"""Compile a journey model into a Hypothesis rule-based state machine.

One example is one journey from the start state; each Hypothesis step is one
step of the journey, and costs the same whatever the model's size:

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
   on a choice sequence of its own.

Every step makes the same three draws whatever the target answered, so the
*shape* of a journey's choices depends only on the choices before it, as
Hypothesis requires. A target that answers differently from one run of a
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

import random
from typing import Any, Protocol

from hypothesis import strategies as st
from hypothesis.errors import StopTest, UnsatisfiedAssumption
from hypothesis.internal.conjecture.data import ConjectureData
from hypothesis.stateful import RuleBasedStateMachine, rule

from engine.walk.journey import JourneyRunner, StepFailure
from engine.model.declare import Action, Model, ResourceKind
from engine.records import Fingerprint

__all__ = ["JourneyFailed", "compile_machine", "Session", "RESOURCE_PICK", "Picker",
           "action_strategy"]

PICK = st.integers(0, 255)
RESOURCE_PICK = st.integers(0, 255)
SEED = st.integers(0, 2**32 - 1)  # with the picks so far, seeds the draw of the step's data
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
    """What the machine needs from the explorer driving it."""

    round_number: int  # salts the picks of the round under way

    def start_journey(self) -> JourneyRunner: ...

    def end_journey(self, runner: JourneyRunner) -> StepFailure | None: ...


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


def action_strategy(action: Action) -> st.SearchStrategy[dict[str, Any]]:
    """One draw for all of an action's data: its strategies, and a pool position per resource."""
    return st.fixed_dictionaries({key: RESOURCE_PICK if isinstance(value, ResourceKind) else value
                                  for key, value in action.data.items()})


def compile_machine(model: Model, session: Session) -> type[RuleBasedStateMachine]:
    strategies = {action.name: action_strategy(action) for action in model.actions}

    @rule(high=PICK, low=PICK, seed=SEED)
    def step(machine: RuleBasedStateMachine, high: int, low: int, seed: int) -> None:
        runner, picker = machine.runner, machine.picker
        chosen = runner.choose(picker.fraction(high, low))
        if chosen is None:
            return
        actor, action = chosen
        drawn = draw_apart(strategies[action.name], picker.state << 32 | seed)
        if drawn is not None:
            runner.attempt(actor, action, drawn)

    def __init__(machine: RuleBasedStateMachine) -> None:
        RuleBasedStateMachine.__init__(machine)
        machine.runner = session.start_journey()
        machine.picker = Picker(session.round_number)

    def teardown(machine: RuleBasedStateMachine) -> None:
        failure = session.end_journey(machine.runner)
        if failure is not None:
            raise failure_class(failure.fingerprint)(failure)

    class_name = "".join(part.capitalize() for part in model.name.replace("-", "_").split("_")) + "Journeys"
    return type(class_name, (RuleBasedStateMachine,), {"step": step, "__init__": __init__,
                                                        "teardown": teardown})
