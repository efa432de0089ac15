"""The journey model as a networkx graph, and its Mermaid and Graphviz renderings.

States are nodes; each action is one edge per source state, keyed by the
action's name, so a multigraph keeps parallel actions between the same states.
Given the store's counts per edge (``engine.model.picture.EdgeStats``), the
renderings show where the walk went; ``picture`` draws SVG, PNG and HTML.
"""

from __future__ import annotations

import networkx as nx

from engine.model.declare import Model

__all__ = ["to_graph", "to_mermaid", "to_dot"]


def to_graph(model: Model) -> nx.MultiDiGraph:
    graph = nx.MultiDiGraph(name=model.name)
    for state in model.states:
        graph.add_node(state, start=state == model.start, terminal=state in model.terminal)
    for action in model.actions:
        for source in action.sources:
            graph.add_edge(source, action.target or source, key=action.name, action=action.name)
    return graph


def _mermaid_id(state: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in state)


def _counts(stats, action: str, source: str) -> tuple[int, int] | None:
    """(hits, failures) of an edge when the picture shows the store's counts, else None."""
    if stats is None:
        return None
    edge = stats.get((action, source))
    return (edge.hits, edge.failures) if edge is not None else (0, 0)


def _label(name: str, counts: tuple[int, int] | None) -> str:
    if counts is None:
        return name
    hits, failures = counts
    return f"{name} ({hits})" + (f" ✗{failures}" if failures else "")


def to_mermaid(model: Model, stats=None) -> str:
    """A Mermaid diagram; with ``stats`` ({(action, source): EdgeStats}) a flowchart whose edges
    show their counts: never walked dashed, failed red, the most walked thickest."""
    graph = to_graph(model)
    if stats is None:
        lines = ["stateDiagram-v2", f"    [*] --> {_mermaid_id(model.start)}"]
        for source, target, name in graph.edges(keys=True):
            lines.append(f"    {_mermaid_id(source)} --> {_mermaid_id(target)}: {name}")
        for state in model.terminal:
            lines.append(f"    {_mermaid_id(state)} --> [*]")
        return "\n".join(lines) + "\n"
    lines = ["flowchart LR"]
    for state in model.states:
        lines.append(f'    {_mermaid_id(state)}(["{state}"])')
    styles = []
    most = max((edge.hits for edge in stats.values()), default=0) or 1
    for number, (source, target, name) in enumerate(graph.edges(keys=True)):
        counts = _counts(stats, name, source)
        arrow = "-->" if counts[0] else "-.->"
        lines.append(f'    {_mermaid_id(source)} {arrow}|"{_label(name, counts)}"| {_mermaid_id(target)}')
        width = 1 + round(3 * counts[0] / most)
        colour = "#c62828" if counts[1] else ("#9e9e9e" if not counts[0] else "#1f4e79")
        styles.append(f"    linkStyle {number} stroke:{colour},stroke-width:{width}px")
    return "\n".join(lines + styles) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(model: Model, stats=None) -> str:
    """Graphviz dot; with ``stats``, each edge's counts, never walked dashed, failed red."""
    graph = to_graph(model)
    lines = [f"digraph {_dot_quote(model.name)} {{", "    rankdir=LR;"]
    for state, attributes in graph.nodes(data=True):
        shape = "doublecircle" if attributes["terminal"] else "ellipse"
        style = ', style=bold' if attributes["start"] else ""
        lines.append(f"    {_dot_quote(state)} [shape={shape}{style}];")
    most = max((edge.hits for edge in (stats or {}).values()), default=0) or 1
    for source, target, name in graph.edges(keys=True):
        counts = _counts(stats, name, source)
        look = ""
        if counts is not None:
            hits, failures = counts
            look = (", style=dashed, color=gray" if not hits else "") + (", color=red, fontcolor=red" if failures else "")
            look += f", penwidth={1 + 3 * hits / most:.1f}"
        lines.append(f"    {_dot_quote(source)} -> {_dot_quote(target)} [label={_dot_quote(_label(name, counts))}{look}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
