"""How a journey model is declared: states, actors, resources, actions, invariants.

A model is plain Python. It names the states of a user's journey, the start
state, the actors taking part (two users let authorisation bugs surface) and the
resources that actions hand to later actions (a token, an order id). Each action
is an edge of the state graph: it leaves from one or more states, reaches one
state, draws its data from Hypothesis strategies, may require a precondition on
what the actor holds so far, and makes its HTTP calls through the step it is
given. Declaring never raises on a mistake: problems are collected and reported
all at once by ``engine.model.validate``.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Iterable

import attrs

__all__ = ["Model", "Action", "ResourceKind", "Invariant", "MustWalk"]


@attrs.frozen
class ResourceKind:
    """A named pool of values one action produces and later actions consume."""

    name: str

    def __repr__(self) -> str:
        return f"resource {self.name!r}"


@attrs.frozen
class Action:
    """One edge of the journey graph and the code that walks it."""

    name: str
    sources: tuple[str, ...]
    target: str | None  # None: the actor stays in the state it left from
    data: dict[str, Any]
    precondition: Callable[[dict], bool] | None
    produces: ResourceKind | None
    function: Callable[..., Any]
    file: str
    line: int
    weight: int = 1
    idempotent: bool = False  # repeating its requests cannot do anything twice (a retry may resend them)

    @property
    def consumes(self) -> dict[str, ResourceKind]:
        return {k: v for k, v in self.data.items() if isinstance(v, ResourceKind)}


@attrs.frozen
class Invariant:
    """A check run on every response of every step."""

    name: str
    function: Callable[..., Any]
    file: str
    line: int


@attrs.frozen
class MustWalk:
    """A golden path: steps walked in this order at the start of every round."""

    name: str
    steps: tuple[tuple[str, str], ...]  # (actor, action)
    file: str
    line: int


def _where(function: Callable[..., Any]) -> tuple[str, int]:
    code = getattr(function, "__code__", None)
    if code is None:
        return "<unknown>", 0
    return code.co_filename, code.co_firstlineno


class Model:
    """A journey model: build one at module level in a file under ``models/``.

    >>> model = Model("shop", states=["anonymous", "signed_in"], start="anonymous")
    >>> @model.action(source="anonymous", target="signed_in", data={"email": emails()})
    ... def sign_up(step, email): ...
    """

    def __init__(self, name: str, *, states: Iterable[str], start: str,
                 terminal: Iterable[str] = (), actors: Iterable[str] = ("user",),
                 description: str = "") -> None:
        frame = inspect.stack()[1]
        self.file: str = frame.filename
        self.line: int = frame.lineno
        self.name = name
        self.states: tuple[str, ...] = tuple(states)
        self.start = start
        self.terminal: tuple[str, ...] = tuple(terminal)
        self.actors: tuple[str, ...] = tuple(actors)
        self.description = description
        self.actions: list[Action] = []
        self.invariants: list[Invariant] = []
        self.teardowns: list[Callable[..., Any]] = []
        self.resetter: Action | None = None
        self.cleanup_login_function: Callable[..., Any] | None = None  # @model.cleanup_login
        self.resources: dict[str, ResourceKind] = {}
        self.must_walks: list[MustWalk] = []

    def resource(self, name: str) -> ResourceKind:
        """Declare a pool of produced values, e.g. ``orders = model.resource("orders")``."""
        kind = ResourceKind(name)
        self.resources[name] = kind
        return kind

    def action(self, *, source: str | Iterable[str], target: str | None,
               data: dict[str, Any] | None = None,
               precondition: Callable[[dict], bool] | None = None,
               produces: ResourceKind | None = None,
               name: str | None = None, weight: int = 1,
               idempotent: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare the decorated function as an action (an edge ``source -> target``).

        ``target=None`` means the action leaves the actor where it was (a
        self-loop on each source state), e.g. browsing the catalogue.

        The function is called as ``function(step, **data)``; ``data`` maps
        argument names to Hypothesis strategies or to resources to consume.
        Returning a value adds it to ``produces``. ``weight`` makes the walk
        pick the action that many times as often as a weight-1 action when
        both can run (use it for the steps that lead deep into the graph).
        ``idempotent=True`` says its POSTs and PATCHes may be sent again after a
        timeout (the server deduplicates them); otherwise only GET, HEAD, PUT,
        DELETE and OPTIONS are retried once a request may have reached the server.
        """
        sources = (source,) if isinstance(source, str) else tuple(source)

        def register(function: Callable[..., Any]) -> Callable[..., Any]:
            file, line = _where(function)
            self.actions.append(Action(
                name=name or function.__name__, sources=sources, target=target,
                data=dict(data or {}), precondition=precondition, produces=produces,
                function=function, file=file, line=line, weight=weight, idempotent=idempotent,
            ))
            return function

        return register

    def must_walk(self, *steps: str, name: str | None = None) -> MustWalk:
        """Declare a golden path, walked first in every round before exploration goes on, e.g.
        ``model.must_walk("sign_up", "add_to_cart", "check_out", name="buy")``.

        Each step names an action, taken by the first actor, or ``"actor.action"``. The data is
        drawn from the actions' strategies as in any journey; a failure on the path is found,
        shrunk and reported like any other. A step that cannot run when its turn comes (its
        precondition does not hold) ends the path there, and the run says so once.
        """
        frame = inspect.stack()[1]
        parsed = tuple(tuple(step.split(".", 1)) if "." in step else (self.actors[0] if self.actors else "", step)
                       for step in steps)
        path = MustWalk(name=name or "-".join(action for _, action in parsed), steps=parsed,
                        file=frame.filename, line=frame.lineno)
        self.must_walks.append(path)
        return path

    def invariant(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare a check ``function(check, response)`` run on every response."""

        def register(function: Callable[..., Any]) -> Callable[..., Any]:
            file, line = _where(function)
            self.invariants.append(Invariant(name=name, function=function, file=file, line=line))
            return function

        return register

    def teardown(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """Declare ``function(step)``, run for every actor when a journey ends.

        Use it to remove what the journey left on the target (log in again and
        delete the test account, say). Its requests are made like a step's;
        its checks and errors never fail the journey, they are only reported.
        """
        self.teardowns.append(function)
        return function

    def reset(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """Declare ``function(step)``, which brings the target back to a clean state.

        Only for a target of your own (a staging copy, a local instance, the demo), never
        production; ``explore --no-reset`` ignores it. With it, a failure that looks caused by
        data an earlier journey left behind is confirmed by experiment (reset, re-create the
        candidate data, walk the failing path) and its culprit named for certain; without it
        the failure is labelled *suspected* left-behind. Its requests are made like a step's;
        a failed check means the reset did not work, and no experiment is run.
        """
        file, line = _where(function)
        self.resetter = Action(name="reset", sources=tuple(self.states), target=None, data={},
                               precondition=None, produces=None, function=function, file=file, line=line)
        return function

    def cleanup_login(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """Declare ``function(step)``: how ``journeys cleanup`` signs in as ``step.actor`` to remove
        what a crashed run left behind.

        The clean-up ledger never holds a credential, only who made the request and how they were
        signed in; after a crash the sweep calls this once per actor and sends that actor's
        remaining clean-ups with the session it sets up. Sign in as an operator who may delete test
        data (``step.authenticate(step.secret("SHOP_OPERATOR_TOKEN"))``), or as the actor itself
        with credentials kept in environment variables.
        """
        self.cleanup_login_function = function
        return function

    def actions_from(self, state: str) -> tuple[Action, ...]:
        """The actions that can leave ``state``, in declaration order."""
        index = self.__dict__.get("_by_source")
        if index is None or index[0] != len(self.actions):
            by_source: dict[str, list[Action]] = {}
            for action in self.actions:
                for source in action.sources:
                    by_source.setdefault(source, []).append(action)
            index = (len(self.actions), {k: tuple(v) for k, v in by_source.items()})
            self._by_source = index
        return index[1].get(state, ())

    def action_named(self, name: str) -> Action:
        for action in self.actions:
            if action.name == name:
                return action
        raise KeyError(name)

    def __repr__(self) -> str:
        return f"<Model {self.name!r}: {len(self.states)} states, {len(self.actions)} actions>"
