"""Every problem with a model, found at once, each naming file, action and fix.

``problems(model)`` never stops at the first mistake: a model author fixes the
whole list in one go. ``journeys validate`` prints it and exits 2 if it is not
empty; ``journeys explore`` refuses to start on a model with problems.
"""

from __future__ import annotations

import inspect
import os
from collections import Counter

import attrs
import networkx as nx
from hypothesis.strategies import SearchStrategy

from engine.model.graph import to_graph
from engine.model.declare import Action, Model, MustWalk, ResourceKind

__all__ = ["Problem", "problems"]

RESERVED_DATA_NAMES = frozenset({"step", "target", "targets", "self"})


@attrs.frozen
class Problem:
    """One thing wrong with a model, and how to fix it."""

    file: str
    line: int
    action: str | None
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{_short(self.file)}:{self.line}"
        subject = f"action {self.action!r}: " if self.action else ""
        return f"{where}: {subject}{self.message}; {self.fix}"


def _short(path: str) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return relative if not relative.startswith("..") else path


def problems(model: Model) -> list[Problem]:
    found: list[Problem] = []
    found += _declaration_problems(model)
    for action in model.actions:
        found += _action_problems(model, action)
    found += _duplicate_names(model)
    found += _graph_problems(model)
    for path in model.must_walks:
        found += _must_walk_problems(model, path)
    return found


def _declaration_problems(model: Model) -> list[Problem]:
    def problem(message: str, fix: str) -> Problem:
        return Problem(model.file, model.line, None, message, fix)

    found = []
    states = set(model.states)
    if not model.states:
        found.append(problem("the model declares no states", "pass states=[...] to Model()"))
    for state, count in Counter(model.states).items():
        if count > 1:
            found.append(problem(f"state {state!r} is declared {count} times", "list each state once"))
    if model.start not in states:
        found.append(problem(f"start state {model.start!r} is not one of the states",
                             f"use one of {sorted(states)} or add it to states=[...]"))
    for state in model.terminal:
        if state not in states:
            found.append(problem(f"terminal state {state!r} is not one of the states",
                                 "add it to states=[...] or fix the name"))
    if not model.actors or len(set(model.actors)) != len(model.actors):
        found.append(problem(f"actors must be distinct names, got {list(model.actors)}",
                             "pass actors=('alice', 'bob') or leave the default"))
    if not model.actions:
        found.append(problem("the model declares no actions",
                             "decorate functions with @model.action(source=..., target=...)"))
    return found


def _action_problems(model: Model, action: Action) -> list[Problem]:
    def problem(message: str, fix: str) -> Problem:
        return Problem(action.file, action.line, action.name, message, fix)

    found = []
    states = set(model.states)
    for source in action.sources:
        if source not in states:
            found.append(problem(f"source state {source!r} is not declared",
                                 f"add it to states=[...] or use one of {sorted(states)}"))
    if not action.sources:
        found.append(problem("it leaves from no state", "pass source='state' or a list of states"))
    if action.target is not None and action.target not in states:
        found.append(problem(f"target state {action.target!r} is not declared",
                             f"add it to states=[...] or use one of {sorted(states)}"))
    for key, value in action.data.items():
        if key in RESERVED_DATA_NAMES:
            found.append(problem(f"data name {key!r} is reserved", "rename that argument"))
        if isinstance(value, ResourceKind):
            if model.resources.get(value.name) is not value:
                found.append(problem(f"data {key!r} consumes {value!r}, which this model does not declare",
                                     f"declare it with model.resource({value.name!r})"))
        elif not isinstance(value, SearchStrategy):
            found.append(problem(
                f"data {key!r} is {value!r} (a {type(value).__name__}), not a Hypothesis strategy",
                f"wrap constants in st.just({value!r}) or use a strategy from strategies/"))
    if action.produces is not None and model.resources.get(action.produces.name) is not action.produces:
        found.append(problem(f"it produces {action.produces!r}, which this model does not declare",
                             f"declare it with model.resource({action.produces.name!r})"))
    if action.precondition is not None and not callable(action.precondition):
        found.append(problem(f"precondition {action.precondition!r} is not callable",
                             "pass a function of the actor's memory, e.g. lambda me: 'token' in me"))
    if not isinstance(action.weight, int) or isinstance(action.weight, bool) or not 1 <= action.weight <= 20:
        found.append(problem(f"weight {action.weight!r} is not a whole number from 1 to 20",
                             "pass weight=1 (the default) up to weight=20"))
    found += _signature_problems(action, problem)
    return found


def _signature_problems(action: Action, problem) -> list[Problem]:
    if not callable(action.function):
        return [problem("it is not a function", "decorate a function def name(step, ...)")]
    try:
        inspect.signature(action.function).bind(None, **{k: None for k in action.data})
    except TypeError as error:
        wanted = ", ".join(["step", *action.data])
        return [problem(f"its function cannot take its data ({error})",
                        f"define it as def {action.name}({wanted})")]
    return []


def _duplicate_names(model: Model) -> list[Problem]:
    found = []
    seen: dict[str, Action] = {}
    for action in model.actions:
        first = seen.setdefault(action.name, action)
        if first is not action:
            found.append(Problem(action.file, action.line, action.name,
                                 f"the name is already used by the action at line {first.line}",
                                 "give each action a distinct name (name='...')"))
    return found


def _graph_problems(model: Model) -> list[Problem]:
    if model.start not in set(model.states):
        return []
    graph = to_graph(model)
    graph.remove_nodes_from([n for n in list(graph.nodes) if n not in set(model.states)])
    found = []
    reachable = nx.descendants(graph, model.start) | {model.start}
    for state in model.states:
        if state not in reachable:
            found.append(Problem(model.file, model.line, None,
                                 f"state {state!r} cannot be reached from the start state {model.start!r}",
                                 "add an action that leads to it, or remove it"))
        elif graph.out_degree(state) == 0 and state not in model.terminal:
            found.append(Problem(model.file, model.line, None,
                                 f"state {state!r} has no way out and is not marked terminal",
                                 f"add an action leaving it, or pass terminal=[{state!r}]"))
    return found


def _must_walk_problems(model: Model, path: MustWalk) -> list[Problem]:
    """A golden path names actors and actions that exist, each step leaving where the last arrived."""
    def problem(message: str, fix: str) -> Problem:
        return Problem(path.file, path.line, None, f"must-walk path {path.name!r}: {message}", fix)

    if not path.steps:
        return [problem("it has no steps", "name its actions in order: model.must_walk('sign_up', ...)")]
    actions = {action.name: action for action in model.actions}
    where = {actor: model.start for actor in model.actors}
    for number, (actor, name) in enumerate(path.steps, 1):
        if actor not in where:
            return [problem(f"step {number} names actor {actor!r}, which the model does not have",
                            f"write 'action' (the first actor) or one of {[f'{a}.{name}' for a in model.actors]}")]
        action = actions.get(name)
        if action is None:
            return [problem(f"step {number} names {name!r}, which is not an action of the model",
                            f"use one of {sorted(actions)}")]
        if where[actor] not in action.sources:
            return [problem(f"step {number} ({name}) cannot leave {where[actor]!r}, where {actor} is by then",
                            f"start it from one of {list(action.sources)}, or add the steps that lead there")]
        where[actor] = action.target or where[actor]
    return []
