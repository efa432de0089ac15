"""Compile a journey model into a Hypothesis rule-based state machine.

One example is one journey from the start state; each Hypothesis step is one
step of the journey. A live target is not deterministic (a 503 here, data
another journey left there), while Hypothesis insists that the *shape* of what
it draws depends only on what it drew before. So every step draws the same
shape whatever the target did: a choice number, an actor number and the data
of every action. The engine then lists the (actor, action) pairs that can run
now (the actor is in a source state, the precondition holds, a resource is
there to consume), each repeated by its weight, and takes the one the choice
number points at, with that action's data. Data drawn for the other actions is
unused and shrinks away. When a step fails, the rest of the journey draws but
does nothing, and the failure is raised at teardown as an exception class made
for its fingerprint, so Hypothesis tells distinct bugs apart and shrinks each
to its own minimal journey.
"""

from __future__ import annotations

from typing import Any, Protocol

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from .journey import JourneyRunner, StepFailure
from .model import Action, Model, ResourceKind
from .records import Fingerprint

__all__ = ["JourneyFailed", "compile_machine", "Session", "RESOURCE_PICK"]

RESOURCE_PICK = st.integers(0, 255)


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


def _raise_failure(failure: StepFailure) -> None:
    raise failure_class(failure.fingerprint)(failure)


class Session(Protocol):
    """What the machine needs from the explorer driving it."""

    def start_journey(self) -> JourneyRunner: ...

    def end_journey(self, runner: JourneyRunner) -> StepFailure | None: ...


CHOICE = "journeys_choice"
ACTOR = "journeys_actor"


def data_argument(action: Action, key: str) -> str:
    return f"{action.name}__{key}"


def compile_machine(model: Model, session: Session) -> type[RuleBasedStateMachine]:
    arguments: dict[str, Any] = {CHOICE: st.integers(0, 255), ACTOR: st.integers(0, len(model.actors) - 1)}
    for action in model.actions:
        for key, value in action.data.items():
            arguments[data_argument(action, key)] = RESOURCE_PICK if isinstance(value, ResourceKind) else value

    @rule(**arguments)
    def step(machine: RuleBasedStateMachine, **drawn: Any) -> None:
        runner = machine.runner
        if runner.ended:
            return
        first = drawn[ACTOR]
        actors = model.actors[first:] + model.actors[:first]  # the drawn actor first
        runnable = [(actor, action) for actor in actors for action in model.actions
                    for _ in range(max(1, action.weight)) if runner.can_run(actor, action)]
        if not runnable:
            return
        actor, action = runnable[drawn[CHOICE] % len(runnable)]
        data = {key: drawn[data_argument(action, key)] for key in action.data}
        runner.attempt(actor, action, data)

    def __init__(machine: RuleBasedStateMachine) -> None:
        RuleBasedStateMachine.__init__(machine)
        machine.runner = session.start_journey()

    def teardown(machine: RuleBasedStateMachine) -> None:
        failure = session.end_journey(machine.runner)
        if failure is not None:
            _raise_failure(failure)

    class_name = "".join(part.capitalize() for part in model.name.replace("-", "_").split("_")) + "Journeys"
    return type(class_name, (RuleBasedStateMachine,), {"step": step, "__init__": __init__,
                                                        "teardown": teardown})
