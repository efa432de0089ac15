"""Compile a journey model into a Hypothesis rule-based state machine.

Every action becomes a rule whose arguments are the action's strategies plus
the actor who should take it; one example is one journey from the start state. A live target is
not deterministic (a 503 here, data another journey left there), while
Hypothesis insists that what it draws depends only on what it drew before. So
the machine never lets the target steer the draws: rules have no Hypothesis
preconditions and no bundles. A drawn rule is taken by the drawn actor if it
can, else by the next actor who can (same data, so the draws do not change);
if no actor is in a source state of the action with its precondition holding
and a resource to consume, the rule is simply skipped; a resource is drawn as a number and picked from the pool
modulo its size. When a step fails, the remaining draws are skipped too and the
failure is raised at teardown, as an exception class made for its fingerprint,
so Hypothesis tells distinct bugs apart and shrinks each to its own minimal
journey (skipped draws shrink away).
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

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


ACTOR_ARGUMENT = "journeys_actor"


def compile_machine(model: Model, session: Session) -> type[RuleBasedStateMachine]:
    namespace: dict[str, Any] = {action.name: _make_rule(model, action) for action in model.actions}

    def __init__(machine: RuleBasedStateMachine) -> None:
        RuleBasedStateMachine.__init__(machine)
        machine.runner = session.start_journey()

    def teardown(machine: RuleBasedStateMachine) -> None:
        failure = session.end_journey(machine.runner)
        if failure is not None:
            _raise_failure(failure)

    namespace.update(__init__=__init__, teardown=teardown)
    class_name = "".join(part.capitalize() for part in model.name.replace("-", "_").split("_")) + "Journeys"
    return type(class_name, (RuleBasedStateMachine,), namespace)


def _make_rule(model: Model, action: Action) -> Callable:
    arguments = {key: RESOURCE_PICK if isinstance(value, ResourceKind) else value
                 for key, value in action.data.items()}
    actors = model.actors
    if len(actors) > 1:
        arguments[ACTOR_ARGUMENT] = st.integers(0, len(actors) - 1)

    def step(machine: RuleBasedStateMachine, **data: Any) -> None:
        first = data.pop(ACTOR_ARGUMENT, 0)
        for offset in range(len(actors)):
            if machine.runner.attempt(actors[(first + offset) % len(actors)], action, data):
                return

    step.__name__ = step.__qualname__ = action.name
    return rule(**arguments)(step)
