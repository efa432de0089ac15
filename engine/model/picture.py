"""Pictures of the model's graph with where the walk went: SVG (no Graphviz needed), PNG, HTML.

States are laid out in columns by their distance from the start state (networkx shortest paths),
in declaration order within a column. Each edge is drawn from its source to its target: a line
bent by its rank among the edges between the same two states, a loop above a state for an action
that stays. What the store says shapes each edge: the more it was walked, the thicker and darker;
never walked, dashed and grey; its action failed there, red, with the count. Every edge element
carries its action, its hits and its failures (``class``, ``data-*`` and a ``<title>`` tooltip),
so the SVG can be searched as text. PNG draws the same layout with matplotlib (``journeys
[notebooks]``); HTML is the SVG in a page with a table of the edges.
"""

from __future__ import annotations

import html
import math
from typing import Iterable

import attrs
import networkx as nx

from engine.errors import ConfigError
from engine.model.declare import Model
from engine.model.graph import to_graph

__all__ = ["EdgeStats", "Layout", "to_svg", "to_html", "to_png"]

COLUMN, ROW, MARGIN = 240.0, 80.0, 40.0
LOOP, LOOP_STEP = 22.0, 17.0  # a loop's height above (or below) its state, and how much higher the next one goes
NODE_W, NODE_H = 120.0, 34.0
RED, GREY, INK = "#c62828", "#9e9e9e", "#1f4e79"


@attrs.frozen
class EdgeStats:
    hits: int = 0       # exploring steps that took the edge
    failures: int = 0   # of those, steps whose check failed


@attrs.frozen
class DrawnEdge:
    action: str
    source: str
    target: str
    stats: EdgeStats
    points: tuple[tuple[float, float], ...]  # start, control, end (a quadratic curve); a loop: four points
    label_at: tuple[float, float]
    measured: bool = True  # False: the model alone, no store's counts

    @property
    def kind(self) -> str:
        if not self.measured:
            return "declared"
        if self.stats.failures:
            return "failed"
        return "walked" if self.stats.hits else "never-walked"

    def describe(self) -> str:
        if not self.measured:
            return f"{self.action}: {self.source} -> {self.target}"
        failed = f", failed {self.stats.failures}x" if self.stats.failures else ""
        return f"{self.action}: {self.source} -> {self.target}, walked {self.stats.hits}x{failed}"


class Layout:
    """Where each state and edge goes."""

    def __init__(self, model: Model, stats: dict[tuple[str, str], EdgeStats] | None = None) -> None:
        graph = to_graph(model)
        self.measured = stats is not None
        stats = stats or {}
        loops: dict[str, int] = {}
        for source, target in graph.edges():
            if source == target:
                loops[source] = loops.get(source, 0) + 1
        most_loops = max(loops.values(), default=0)
        room = LOOP + LOOP_STEP * ((most_loops + 1) // 2) if most_loops else 0.0  # above and below each state
        columns = self._columns(model, graph)
        row = ROW + (2 * room if any(len(states) > 1 for states in columns.values()) else 0)
        tallest = max(len(states) for states in columns.values())
        self.positions: dict[str, tuple[float, float]] = {}
        for column, states in columns.items():
            offset = (tallest - len(states)) * row / 2
            for number, state in enumerate(states):
                self.positions[state] = (MARGIN + NODE_W / 2 + column * COLUMN,
                                         MARGIN + room + NODE_H / 2 + offset + number * row)
        self.width = MARGIN * 2 + NODE_W + max(columns) * COLUMN
        self.height = MARGIN * 2 + 2 * room + (tallest - 1) * row + NODE_H
        self.start, self.terminal = model.start, set(model.terminal)
        self.most = max((s.hits for s in stats.values()), default=0)
        rank: dict[tuple[str, str], int] = {}
        self.edges: list[DrawnEdge] = []
        for source, target, action in graph.edges(keys=True):
            pair = (min(source, target), max(source, target))
            index = rank[pair] = rank.get(pair, -1) + 1
            edge_stats = stats.get((action, source), EdgeStats())
            self.edges.append(attrs.evolve(self._edge(action, source, target, index, edge_stats),
                                           measured=self.measured))

    @staticmethod
    def _columns(model: Model, graph) -> dict[int, list[str]]:
        depth = nx.single_source_shortest_path_length(nx.DiGraph(graph), model.start)
        deepest = max(depth.values(), default=0)
        columns: dict[int, list[str]] = {}
        for state in model.states:
            columns.setdefault(depth.get(state, deepest + 1), []).append(state)
        return dict(sorted(columns.items()))

    def _edge(self, action: str, source: str, target: str, index: int, stats: EdgeStats) -> DrawnEdge:
        (x1, y1), (x2, y2) = self.positions[source], self.positions[target]
        if source == target:  # loops above and below the state in turn, each further one wider and higher
            side, level = (-1 if index % 2 == 0 else 1), index // 2
            spread, rise = 24 + 10 * level, LOOP + LOOP_STEP * level
            edge_y = y1 + side * NODE_H / 2
            peak = edge_y + side * rise
            points = ((x1 - 16, edge_y), (x1 - spread, peak), (x1 + spread, peak), (x1 + 16, edge_y))
            return DrawnEdge(action, source, target, stats, points, (x1, edge_y + side * (0.75 * rise + 6)))
        start, end = _border((x1, y1), (x2, y2)), _border((x2, y2), (x1, y1))
        length = math.dist(start, end) or 1.0
        normal = ((start[1] - end[1]) / length, (end[0] - start[0]) / length)
        # Edges between the same two states fan out; one going back (right to left) bends the other way.
        bend = (18 + 26 * index) * (1 if x2 >= x1 else -1) * (1 if index % 2 == 0 else -1)
        if x1 == x2 or abs(x2 - x1) > COLUMN * 1.5:
            bend += 40 * (1 if y2 >= y1 else -1)
        middle = ((start[0] + end[0]) / 2 + normal[0] * bend, (start[1] + end[1]) / 2 + normal[1] * bend)
        label = (0.25 * start[0] + 0.5 * middle[0] + 0.25 * end[0], 0.25 * start[1] + 0.5 * middle[1] + 0.25 * end[1])
        return DrawnEdge(action, source, target, stats, (start, middle, end), label)

    def stroke(self, edge: DrawnEdge) -> tuple[str, float, str]:
        """Colour, width and dash pattern of an edge."""
        if not edge.measured:
            return INK, 1.4, ""
        if not edge.stats.hits:
            return GREY, 1.2, "6 4"
        weight = math.log1p(edge.stats.hits) / math.log1p(self.most or 1)
        return (RED if edge.stats.failures else INK), 1.2 + 4 * weight, ""


def _border(centre: tuple[float, float], towards: tuple[float, float]) -> tuple[float, float]:
    """Where the line from ``centre`` to ``towards`` leaves the state's box."""
    dx, dy = towards[0] - centre[0], towards[1] - centre[1]
    if dx == dy == 0:
        return centre
    scale = min((NODE_W / 2) / abs(dx) if dx else math.inf, (NODE_H / 2) / abs(dy) if dy else math.inf)
    return centre[0] + dx * scale, centre[1] + dy * scale


def _path(points: Iterable[tuple[float, float]]) -> str:
    points = list(points)
    head, *rest = points
    command = "Q" if len(rest) == 2 else "C"
    return f"M {head[0]:.1f} {head[1]:.1f} {command} " + " ".join(f"{x:.1f} {y:.1f}" for x, y in rest)


def _label(edge: DrawnEdge) -> str:
    if not edge.measured:
        return edge.action
    failed = f" ✗{edge.stats.failures}" if edge.stats.failures else ""
    return f"{edge.action} ({edge.stats.hits}){failed}"


def to_svg(model: Model, stats: dict[tuple[str, str], EdgeStats] | None = None) -> str:
    layout = Layout(model, stats)
    e = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{layout.width:.0f}" height="{layout.height:.0f}" '
           f'viewBox="0 0 {layout.width:.0f} {layout.height:.0f}" font-family="sans-serif" font-size="11">',
           f"<title>{e(model.name)}: where the walk went</title>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="context-stroke"/></marker></defs>',
           '<rect width="100%" height="100%" fill="white"/>']
    for edge in layout.edges:
        colour, width, dash = layout.stroke(edge)
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<g class="edge {edge.kind}" data-action="{e(edge.action)}" data-source="{e(edge.source)}" '
                   f'data-hits="{edge.stats.hits}" data-failures="{edge.stats.failures}">'
                   f"<title>{e(edge.describe())}</title>"
                   f'<path d="{_path(edge.points)}" fill="none" stroke="{colour}" stroke-width="{width:.2f}"{dashed} '
                   f'marker-end="url(#arrow)"/>'
                   f'<text x="{edge.label_at[0]:.1f}" y="{edge.label_at[1]:.1f}" text-anchor="middle" '
                   f'fill="{RED if edge.stats.failures else "#555"}">{e(_label(edge))}</text></g>')
    for state, (x, y) in layout.positions.items():
        bold = ' stroke-width="2.5"' if state == layout.start else ' stroke-width="1.2"'
        double = (f'<rect x="{x - NODE_W / 2 - 4:.1f}" y="{y - NODE_H / 2 - 4:.1f}" width="{NODE_W + 8:.0f}" '
                  f'height="{NODE_H + 8:.0f}" rx="20" fill="none" stroke="#333"/>') if state in layout.terminal else ""
        out.append(f'<g class="state" data-state="{e(state)}">{double}<rect x="{x - NODE_W / 2:.1f}" '
                   f'y="{y - NODE_H / 2:.1f}" width="{NODE_W:.0f}" height="{NODE_H:.0f}" rx="16" fill="#f5f7fa" '
                   f'stroke="#333"{bold}/><text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle" '
                   f'font-size="12">{e(state)}</text></g>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def to_html(model: Model, stats: dict[tuple[str, str], EdgeStats] | None = None) -> str:
    layout = Layout(model, stats)
    e = html.escape
    rows = "\n".join(f'<tr class="{edge.kind}"><td>{e(edge.action)}</td><td>{e(edge.source)} → {e(edge.target)}</td>'
                     f"<td>{edge.stats.hits}</td><td>{edge.stats.failures}</td></tr>"
                     for edge in sorted(layout.edges, key=lambda d: (-d.stats.failures, d.stats.hits, d.action)))
    walked = sum(1 for edge in layout.edges if edge.stats.hits)
    summary = (f"{walked} of {len(layout.edges)} edges walked. Thicker: walked more; dashed grey: never walked; "
               "red: the action failed there (the count after ✗)." if layout.measured else
               f"The model's {len(layout.edges)} edges (give --store to see where the walk went).")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{e(model.name)}: where the walk went</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} td,th{{padding:2px 10px;
border-bottom:1px solid #ddd;text-align:left}} tr.failed td{{color:{RED}}} tr.never-walked td{{color:#888}}</style>
</head><body>
<h1>{e(model.name)}</h1>
<p>{summary}</p>
{to_svg(model, stats)}
<table><tr><th>action</th><th>edge</th><th>walked</th><th>failed</th></tr>
{rows}
</table></body></html>
"""


def to_png(model: Model, stats: dict[tuple[str, str], EdgeStats] | None, path: str) -> None:
    """The same picture as ``to_svg``, drawn by matplotlib into ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import patches, pyplot
        from matplotlib.path import Path as CurvePath
    except ImportError:
        raise ConfigError("--format png needs matplotlib: pip install 'journeys[notebooks]' "
                          "(or use --format svg, which needs nothing)") from None
    layout = Layout(model, stats)
    dpi = 100
    figure = pyplot.figure(figsize=(layout.width / dpi, layout.height / dpi), dpi=dpi)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, layout.width)
    axes.set_ylim(layout.height, 0)
    axes.axis("off")
    for edge in layout.edges:
        colour, width, dash = layout.stroke(edge)
        codes = [CurvePath.MOVETO] + [CurvePath.CURVE3 if len(edge.points) == 3 else CurvePath.CURVE4] * (len(edge.points) - 1)
        axes.add_patch(patches.FancyArrowPatch(path=CurvePath(edge.points, codes), arrowstyle="-|>", mutation_scale=10,
                                               color=colour, linewidth=width * 0.75,
                                               linestyle=(0, (4, 3)) if dash else "solid"))
        axes.text(*edge.label_at, _label(edge), ha="center", va="center", fontsize=7,
                  color=RED if edge.stats.failures else "#555")
    for state, (x, y) in layout.positions.items():
        axes.add_patch(patches.FancyBboxPatch((x - NODE_W / 2, y - NODE_H / 2), NODE_W, NODE_H,
                                              boxstyle="round,pad=0,rounding_size=14", facecolor="#f5f7fa",
                                              edgecolor="#333", linewidth=2.0 if state == layout.start else 1.0))
        axes.text(x, y, state, ha="center", va="center", fontsize=9)
    figure.savefig(path, dpi=dpi, facecolor="white")
    pyplot.close(figure)
