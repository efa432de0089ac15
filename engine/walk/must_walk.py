"""Golden paths (``model.must_walk(...)``), walked first in every round.

Each path is one journey of its own small Hypothesis run at the start of the round (so the round's
search, and the examples its database replays first, are left as they were): ``ScriptedChoice``
takes the path's steps in order in place of the drawn choice, the actions' data is drawn from
their strategies as in any journey, and the journey ends after the last step. A failure on the
path is investigated and reported like any other.
"""

from __future__ import annotations

from typing import Callable

from hypothesis import HealthCheck, Phase, Verbosity, settings as hypothesis_settings

from engine.events import Event, Notice
from engine.model.declare import Action, Model, MustWalk

__all__ = ["MustWalks", "ScriptedChoice"]


class MustWalks:
    """The model's golden paths: walked at the start of each round, one small Hypothesis run each."""

    def __init__(self, model: Model, *, emit: Callable[[Event], None], run_id: str, notes, ran: set[str],
                 budget_spent: Callable[[], bool]) -> None:
        self.paths = tuple(model.must_walks)
        self.emit, self.run_id, self.notes, self.ran, self.budget_spent = emit, run_id, notes, ran, budget_spent
        self.current: MustWalk | None = None  # the path being walked
        self._said: set[str] = set()

    def walk(self, walk, seed: int, number: int, *, between: Callable[[], None]) -> None:
        """Walk each path as the one example of a Hypothesis run of ``walk`` (the round's ``CompiledWalk``)."""
        for path in self.paths:
            if self.budget_spent():
                return
            self.current = path
            between()  # the explorer forgets the last raised failure: this run replays only its own
            config = hypothesis_settings(max_examples=1, deadline=None,
                                         database=None, suppress_health_check=list(HealthCheck),
                                         verbosity=Verbosity.quiet, report_multiple_bugs=False, print_blob=False,
                                         phases=[Phase.generate])
            try:
                walk.test(max_steps=len(path.steps), config=config, seed=seed)()
            except KeyboardInterrupt:
                raise
            except BaseException as raised:  # noqa: BLE001 - as for a round
                self.notes.after_round(number, raised)
            finally:
                self.current = None
                between()

    def steer(self, runner) -> None:
        """Make ``runner`` (a new exploring journey) walk the current path, if one is being walked."""
        if self.current is not None:
            runner.must_walk = self.current.name
            runner.chooser = ScriptedChoice(self.current, runner, ran=self.ran, blocked=self._blocked)

    def _blocked(self, path: MustWalk, position: int, action: str) -> None:
        if path.name not in self._said:
            self._said.add(path.name)
            self.emit(Notice(run_id=self.run_id, message=(
                f"must-walk path {path.name!r}: step {position} ({action}) could not run when its turn came (its "
                "precondition did not hold, or nothing was there to use), so the path ended there (said once)")))


class ScriptedChoice:
    """The chooser of a must-walk journey: the path's next step if it can run; else the journey ends."""

    def __init__(self, path: MustWalk, runner, *, ran: set[str], blocked: Callable[[MustWalk, int, str], None]) -> None:
        self.path, self.runner, self.ran, self.blocked = path, runner, ran, blocked
        self.position = 0

    def __call__(self, states: dict[str, str], pairs: list[tuple[str, Action]],
                 fraction: float) -> tuple[str, Action] | None:
        if self.position >= len(self.path.steps):
            self.runner.ended = True
            return None
        actor, name = self.path.steps[self.position]
        self.position += 1
        for pair in pairs:
            if pair[0] == actor and pair[1].name == name:
                self.ran.add(name)
                return pair
        self.runner.ended = True
        self.blocked(self.path, self.position, name)
        return None
