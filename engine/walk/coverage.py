"""Where the walk went: states visited, edges taken, edge pairs, and the coverage-guided choice.

An *edge* is one action leaving one of its source states (``(action, source)``); an *edge pair*
is two edges one actor took one after the other in a journey (the second leaves the state the
first reached). ``CoverageSpace`` lists what a model allows; ``Coverage`` counts what exploring
journeys took (shrinking and replays walk known paths again: they do not count) and lists, at the
end, the edges never taken and the actions that never could run, with the reason.

It also chooses the next step. ``random`` (the default) takes the runnable pair at the drawn
fraction of their weights. ``coverage`` weighs each runnable pair by what it would add: an edge
never taken, a pair never taken, or a step toward the nearest state with an edge never taken
(a networkx shortest-path distance over the state graph, recomputed when an edge is first
taken), so journeys spend their steps where nothing has been tried. Both are a deterministic
function of the drawn fraction and of what was taken before, so the engine's shrinking (which
replays recorded choices) is untouched.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

import attrs
import networkx as nx

from engine.errors import ConfigError
from engine.model.declare import Action, Model

__all__ = ["Coverage", "CoverageSpace", "CoverageSummary", "StopCondition", "STRATEGIES", "UNBOUNDED_JOURNEYS",
           "parse_until"]

STRATEGIES = ("random", "coverage")
UNBOUNDED_JOURNEYS = 10**9  # --until without --journeys: the conditions (and --duration) decide
NEW_EDGE = 200.0    # weight factor of a runnable step taking an edge never taken
NEW_PAIR = 12.0     # ... of one completing an edge pair never taken
CLOSER = 25.0       # ... of one leading one state closer to an edge never taken

Edge = tuple[str, str]  # (action, source state)


class CoverageSpace:
    """What the model allows: its states, edges and edge pairs."""

    def __init__(self, model: Model) -> None:
        self.start = model.start
        self.states = tuple(model.states)
        self.targets: dict[Edge, str] = {}
        for action in model.actions:
            for source in action.sources:
                self.targets[(action.name, source)] = action.target or source
        self.edges = tuple(self.targets)
        leaving: dict[str, list[Edge]] = {}
        for edge in self.edges:
            leaving.setdefault(edge[1], []).append(edge)
        self.pairs = frozenset((first, second) for first in self.edges
                               for second in leaving.get(self.targets[first], ()))
        self.graph = nx.DiGraph()
        self.graph.add_nodes_from(self.states)
        self.graph.add_edges_from((source, self.targets[(action, source)]) for action, source in self.edges)


@attrs.frozen
class CoverageSummary:
    states_seen: int
    states: int
    edges_taken: int
    edges: int
    pairs_taken: int
    pairs: int
    never_taken: tuple[str, ...] = ()   # "action (from state)"
    never_ran: tuple[str, ...] = ()     # "action: why"
    strategy: str = "random"

    @property
    def edge_share(self) -> float:
        return self.edges_taken / self.edges if self.edges else 1.0

    @property
    def pair_share(self) -> float:
        return self.pairs_taken / self.pairs if self.pairs else 1.0

    def as_dict(self) -> dict:
        return {**attrs.asdict(self), "edge_share": round(self.edge_share, 4), "pair_share": round(self.pair_share, 4)}

    def line(self) -> str:
        return (f"edge coverage {self.edges_taken}/{self.edges} ({self.edge_share:.0%}), edge pairs "
                f"{self.pairs_taken}/{self.pairs} ({self.pair_share:.0%}), states {self.states_seen}/{self.states}")


class Coverage:
    """What the exploring journeys of one run took, and the choice of each next step."""

    def __init__(self, model: Model, strategy: str = "random") -> None:
        if strategy not in STRATEGIES:
            raise ConfigError(f"--strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
        self.model = model
        self.space = CoverageSpace(model)
        self.strategy = strategy
        self.edge_hits: Counter[Edge] = Counter()
        self.pair_hits: Counter[tuple[Edge, Edge]] = Counter()
        self.edges_taken = self.pairs_taken = 0  # distinct ones, kept as they come (--until asks every journey)
        self.states_seen: set[str] = {model.start}
        self.ran: set[str] = set()       # actions that were runnable at least once
        self.last: dict[str, Edge] = {}  # per actor: the edge its last step took, this journey
        self.journey: int | None = None
        self.new_in_journey = 0          # edges and pairs this journey took first
        self._distance: dict[str, int] | None = None  # to the nearest state with an edge never taken

    # --- counting --------------------------------------------------------------------------
    def took(self, journey: int, actor: str, action: str, source: str, target: str) -> None:
        """An exploring step: ``actor`` took ``action`` from ``source`` and is now in ``target``."""
        if journey != self.journey:
            self.journey, self.last, self.new_in_journey = journey, {}, 0
        edge = (action, source)
        if edge not in self.space.targets:
            return
        if not self.edge_hits[edge]:
            self.new_in_journey += 1
            self.edges_taken += 1
            self._distance = None
        self.edge_hits[edge] += 1
        previous = self.last.get(actor)
        if previous is not None and (previous, edge) in self.space.pairs:
            pair = (previous, edge)
            if not self.pair_hits[pair]:
                self.new_in_journey += 1
                self.pairs_taken += 1
            self.pair_hits[pair] += 1
        self.last[actor] = edge
        self.states_seen.add(target)

    def summary(self) -> CoverageSummary:
        space = self.space
        never = tuple(f"{action} (from {source})" for action, source in space.edges if not self.edge_hits[(action, source)])
        never_ran = tuple(f"{action.name}: {self._why_never(action)}" for action in self.model.actions
                          if action.name not in self.ran)
        return CoverageSummary(states_seen=len(self.states_seen & set(space.states)), states=len(space.states),
                               edges_taken=self.edges_taken, edges=len(space.edges), pairs_taken=self.pairs_taken,
                               pairs=len(space.pairs), never_taken=never, never_ran=never_ran,
                               strategy=self.strategy)

    def _why_never(self, action: Action) -> str:
        reached = [s for s in action.sources if s in self.states_seen]
        if not reached:
            return f"no journey reached {' or '.join(repr(s) for s in action.sources)}"
        if action.consumes:
            return (f"in {reached[0]!r} its precondition never held or no {', '.join(k.name for k in action.consumes.values())} "
                    "was there to use")
        return f"in {reached[0]!r} its precondition never held"

    # --- choosing --------------------------------------------------------------------------
    def choose(self, states: dict[str, str], pairs: list[tuple[str, Action]], fraction: float) -> tuple[str, Action]:
        """The runnable pair at ``fraction`` of their weights (weighted by novelty for ``coverage``)."""
        for _, action in pairs:
            self.ran.add(action.name)
        if self.strategy == "random":
            weights = [max(1, action.weight) for _, action in pairs]
        else:
            weights = [self._novelty(states[actor], actor, action) for actor, action in pairs]
        point, total = fraction * sum(weights), 0.0
        for pair, weight in zip(pairs, weights):
            total += weight
            if point < total:
                return pair
        return pairs[-1]

    def _novelty(self, source: str, actor: str, action: Action) -> float:
        weight = float(max(1, action.weight))
        edge = (action.name, source)
        if not self.edge_hits[edge]:
            return weight * NEW_EDGE
        previous = self.last.get(actor)
        if previous is not None and not self.pair_hits[(previous, edge)]:
            weight *= NEW_PAIR
        distance = self._distances()
        here, there = distance.get(source), distance.get(action.target or source)
        if here is not None and there is not None and there < here:
            weight *= CLOSER
        return weight

    def _distances(self) -> dict[str, int]:
        if self._distance is None:
            frontier = {source for action, source in self.space.edges if not self.edge_hits[(action, source)]}
            self._distance = (dict(nx.multi_source_dijkstra_path_length(self.space.graph.reverse(copy=False), frontier))
                              if frontier else {})
        return self._distance


# --- stop conditions ------------------------------------------------------------------------
_UNTIL = re.compile(r"^(?P<kind>edge-coverage|edge-pair-coverage|failures)=(?P<value>\d+(\.\d+)?)(?P<percent>%?)$")


@attrs.frozen
class StopCondition:
    kind: str      # "edge-coverage", "edge-pair-coverage" or "failures"
    value: float   # a share (0..1) for coverage, a count for failures

    def met(self, coverage: Coverage, failures: int) -> bool:
        if self.kind == "failures":
            return failures >= self.value
        space = coverage.space
        taken, total = ((coverage.edges_taken, len(space.edges)) if self.kind == "edge-coverage"
                        else (coverage.pairs_taken, len(space.pairs)))
        return (taken / total if total else 1.0) >= self.value - 1e-9

    def __str__(self) -> str:
        return f"{self.kind}={self.value:g}" if self.kind == "failures" else f"{self.kind}={self.value:.0%}"


def parse_until(texts: Iterable[str]) -> tuple[StopCondition, ...]:
    """``--until`` values, checked: a ConfigError names the one that is wrong and the forms allowed."""
    conditions = []
    for text in texts:
        match = _UNTIL.match(text.strip().replace(" ", ""))
        if match is None:
            raise ConfigError(f"--until {text!r}: write edge-coverage=N%, edge-pair-coverage=N% or failures=N")
        kind, value = match["kind"], float(match["value"])
        if kind == "failures":
            if match["percent"] or value < 1 or value != int(value):
                raise ConfigError(f"--until {text!r}: failures=N takes a whole number of failures, 1 or more")
        else:
            if not match["percent"] or not 0 < value <= 100:
                raise ConfigError(f"--until {text!r}: a coverage is a percentage above 0% and at most 100%")
            value /= 100
        conditions.append(StopCondition(kind, value))
    return tuple(conditions)
