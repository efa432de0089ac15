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
3. only that action's data is drawn, from its strategies.

Which action is chosen depends on what the target answered earlier (a 503
keeps an actor where it was), so the *shape* of the draws can differ between
two runs of the same choices. Hypothesis only checks that shape when it replays
a choice sequence: it never shrinks walks here (``engine.walk.shrink`` does, with the
engine's knowledge of the journey), and its one replay of a failing journey (to
raise it) is answered by ``ReplayedJourney``, which draws exactly what the
original drew and sends nothing.
"""

from __future__ import annotations

from typing import Any, Protocol

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from engine.walk.journey import JourneyRunner, StepFailure
from engine.model.declare import Action, Model, ResourceKind
from engine.records import Fingerprint

__all__ = ["JourneyFailed", "compile_machine", "Session", "RESOURCE_PICK", "Picker",
           "action_strategy"]

PICK = st.integers(0, 255)
RESOURCE_PICK = st.integers(0, 255)
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


def action_strategy(action: Action) -> st.SearchStrategy[dict[str, Any]]:
    """One draw for all of an action's data: its strategies, and a pool position per resource."""
    return st.fixed_dictionaries({key: RESOURCE_PICK if isinstance(value, ResourceKind) else value
                                  for key, value in action.data.items()})


def compile_machine(model: Model, session: Session) -> type[RuleBasedStateMachine]:
    strategies = {action.name: action_strategy(action) for action in model.actions}

    @rule(high=PICK, low=PICK, data=st.data())
    def step(machine: RuleBasedStateMachine, high: int, low: int, data: Any) -> None:
        runner = machine.runner
        chosen = runner.choose(machine.picker.fraction(high, low))
        if chosen is None:
            return
        actor, action = chosen
        runner.attempt(actor, action, data.draw(strategies[action.name]))

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
