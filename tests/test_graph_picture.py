"""``journeys graph --store``: every edge drawn as the store has it (walked, never walked, failed),
in SVG, DOT, Mermaid, HTML and PNG, for the demo shop and the generated maze; no Graphviz needed."""

from __future__ import annotations

import re

from engine.store import connect

from .conftest import ROOT, run_journeys

MODELS = {"shop": ROOT / "models" / "shop.py", "maze": ROOT / "tests" / "maze_model.py"}


def store_kinds(store, model: str) -> dict[tuple[str, str], str]:
    """What the store says of each edge of ``model``: failed, walked or never-walked."""
    rows = store.execute("""
        SELECT e.action, e.source, coalesce(sum(s.hits), 0), coalesce(sum(s.failed), 0)
        FROM (SELECT DISTINCT model, action, source FROM model_edges) e
        LEFT JOIN (SELECT r.model, action, from_state AS source, count(*) AS hits,
                          count(*) FILTER (WHERE outcome IN ('failed', 'known')) AS failed
                   FROM steps JOIN runs_started r USING (run_id) WHERE phase = 'explore' GROUP BY ALL) s
          USING (model, action, source)
        WHERE e.model = ? GROUP BY ALL""", [model]).fetchall()
    return {(a, s): "failed" if failed else "walked" if hits else "never-walked" for a, s, hits, failed in rows}


def test_the_pictures_mark_each_edge_as_the_store_has_it(tmp_path):
    for name, model in MODELS.items():
        result = run_journeys("explore", str(model), "--target", "demo", "--journeys", "12", "--seed", "2",
                              "--no-examples-db", cwd=tmp_path)
        assert result.returncode in (0, 1), result.stderr[-2000:]
    store = connect(tmp_path / "journeys-store")
    seen = set()
    for name, model in MODELS.items():
        kinds = store_kinds(store, name)
        seen |= set(kinds.values())
        svg = run_journeys("graph", str(model), "--store", "journeys-store", "--format", "svg", cwd=tmp_path)
        assert svg.returncode == 0 and svg.stdout.startswith("<svg"), svg.stderr
        drawn = {(m["action"], m["source"]): m["kind"] for m in re.finditer(
            r'<g class="edge (?P<kind>[a-z-]+)" data-action="(?P<action>[^"]+)" data-source="(?P<source>[^"]+)"',
            svg.stdout)}
        assert drawn == kinds, name
        dot = run_journeys("graph", str(model), "--store", "journeys-store", "--format", "dot", cwd=tmp_path).stdout
        for (action, source), kind in kinds.items():
            line = next(l for l in dot.splitlines() if f'"{source}" -> ' in l and f'label="{action} (' in l)
            assert ("color=red" in line) == (kind == "failed") and ("style=dashed" in line) == (kind == "never-walked")
        mermaid = run_journeys("graph", str(model), "--store", "journeys-store", cwd=tmp_path).stdout
        assert mermaid.count("-.->") == list(kinds.values()).count("never-walked")
        page = run_journeys("graph", str(model), "--store", "journeys-store", "--format", "html", "-o", f"{name}.html",
                            cwd=tmp_path)
        assert page.returncode == 0 and "<svg" in (tmp_path / f"{name}.html").read_text()
        png = run_journeys("graph", str(model), "--store", "journeys-store", "--format", "png", "-o", f"{name}.png",
                           cwd=tmp_path)
        assert png.returncode == 0, png.stderr
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    assert seen == {"failed", "walked", "never-walked"}, seen  # the runs left edges of every kind to draw


def test_without_a_store_the_picture_is_the_model_alone(tmp_path):
    from engine.model.loader import load_model
    from engine.walk.coverage import CoverageSpace

    edges = len(CoverageSpace(load_model(str(MODELS["shop"]))).edges)  # one per action and source state
    svg = run_journeys("graph", str(MODELS["shop"]), "--format", "svg", cwd=tmp_path)
    assert svg.returncode == 0 and svg.stdout.count('class="edge declared"') == edges > 30
    assert "never-walked" not in svg.stdout and "edge failed" not in svg.stdout
    missing = run_journeys("graph", str(MODELS["shop"]), "--store", "nowhere", "--format", "svg", cwd=tmp_path)
    assert missing.returncode == 2 and "no journeys store" in missing.stderr
