"""The journey model as a networkx graph, and its Mermaid and Graphviz renderings.

States are nodes; each action is one edge per source state, keyed by the
action's name, so a multigraph keeps parallel actions between the same states.
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


def to_mermaid(model: Model) -> str:
    graph = to_graph(model)
    lines = ["stateDiagram-v2", f"    [*] --> {_mermaid_id(model.start)}"]
    for source, target, name in graph.edges(keys=True):
        lines.append(f"    {_mermaid_id(source)} --> {_mermaid_id(target)}: {name}")
    for state in model.terminal:
        lines.append(f"    {_mermaid_id(state)} --> [*]")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(model: Model) -> str:
    graph = to_graph(model)
    lines = [f"digraph {_dot_quote(model.name)} {{", "    rankdir=LR;"]
    for state, attributes in graph.nodes(data=True):
        shape = "doublecircle" if attributes["terminal"] else "ellipse"
        style = ', style=bold' if attributes["start"] else ""
        lines.append(f"    {_dot_quote(state)} [shape={shape}{style}];")
    for source, target, name in graph.edges(keys=True):
        lines.append(f"    {_dot_quote(source)} -> {_dot_quote(target)} [label={_dot_quote(name)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
