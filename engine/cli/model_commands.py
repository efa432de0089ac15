"""``journeys validate`` and ``journeys graph``: a model checked, and drawn with where the walk went."""

from __future__ import annotations

from pathlib import Path

import click
import duckdb

from engine.cli.options import fail, load_valid_model
from engine.errors import ConfigError, JourneysError
from engine.model.graph import to_dot, to_mermaid
from engine.model.picture import EdgeStats, to_html, to_png, to_svg
from engine.store import connect
from engine.walk.coverage import CoverageSpace

__all__ = ["graph", "validate"]

FORMATS = ("mermaid", "dot", "svg", "png", "html")


@click.command()
@click.argument("model_spec", metavar="MODEL")
def validate(model_spec) -> None:
    """Check MODEL and report every problem at once (exit 2 if any)."""
    try:
        model = load_valid_model(model_spec)
    except JourneysError as error:
        fail(error)
    space = CoverageSpace(model)
    click.echo(f"{model_spec}: model {model.name!r} is valid: {len(model.states)} states, "
               f"{len(model.actions)} actions ({len(space.edges)} edges, {len(space.pairs)} edge pairs, every one "
               f"reachable from {model.start!r}), {len(model.actors)} actor(s), {len(model.invariants)} invariant(s)")


@click.command()
@click.argument("model_spec", metavar="MODEL")
@click.option("--format", "output_format", type=click.Choice(FORMATS), default="mermaid", show_default=True)
@click.option("--store", default=None, metavar="PATH",
              help="Shade the edges by how often the store's runs of this model walked them (never walked: "
                   "dashed; failed: red, with counts); a folder or s3://BUCKET/PREFIX.")
@click.option("-o", "--output", default=None, metavar="FILE",
              help="Write to FILE [default: standard output; for png, MODEL_NAME.png].")
def graph(model_spec, output_format, store, output) -> None:
    """Draw MODEL's state graph: Mermaid, Graphviz dot, or a picture (SVG, PNG, HTML) that needs no Graphviz."""
    try:
        model = load_valid_model(model_spec)
        stats = edge_stats(connect(store), model.name) if store else None
        if output_format == "png":
            path = output or f"{model.name}.png"
            to_png(model, stats, path)
            click.echo(f"wrote {path}", err=True)
            return
        render = {"mermaid": to_mermaid, "dot": to_dot, "svg": to_svg, "html": to_html}[output_format]
        text = render(model, stats)
    except JourneysError as error:
        fail(error)
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as error:
            fail(ConfigError(f"cannot write {output!r}: {error.strerror or error}"))
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


def edge_stats(connection: duckdb.DuckDBPyConnection, model: str) -> dict[tuple[str, str], EdgeStats]:
    """Per edge (action, source state) of ``model``: exploring steps that took it, and that failed there."""
    rows = connection.execute("""
        SELECT s.action, s.from_state, count(*), count(*) FILTER (WHERE s.outcome IN ('failed', 'known'))
        FROM steps s JOIN runs_started r USING (run_id)
        WHERE r.model = ? AND s.phase = 'explore' GROUP BY ALL""", [model]).fetchall()
    return {(action, source): EdgeStats(hits, failures) for action, source, hits, failures in rows}
