"""The analysis notebooks in notebooks/ run top to bottom against a store from a real exploration.

The store comes from the suite's main exploration of the demo shop (with its seeded
bugs, through the CLI, as a user would; the ``exploration`` fixture in conftest); each notebook then runs in a fresh python3 kernel with ``JOURNEYS_STORE``
pointing at it. A notebook passes when no cell raised and every plotting cell (one that
calls ``plt.show()``) put exactly one PNG in its output. The notebooks' own ``assert``s
turn an empty query into an error, so a figure with nothing to draw fails the test too.
"""

from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

from engine.store import connect

from .conftest import ROOT

NOTEBOOKS = ROOT / "notebooks"
NAMES = ["failure_trends", "intermittent_vs_deterministic", "latency", "coverage"]


@pytest.fixture(scope="module")
def store(exploration):
    """The store the suite's main exploration of the demo filled (see conftest)."""
    workdir, result, _ = exploration
    assert result.returncode == 1, result.stdout + result.stderr  # 1: the demo's bugs were found
    store = workdir / "journeys-store"
    connection = connect(store)
    assert connection.execute("SELECT count(*) FROM failures_found").fetchone()[0] >= 4
    assert connection.execute("SELECT count(*) FROM steps WHERE phase = 'explore'").fetchone()[0] >= 1000
    connection.close()
    return store


def test_every_notebook_is_tested():
    assert sorted(path.stem for path in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_and_draws(name, store):
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert not any(cell.outputs or cell.execution_count for cell in code), "commit notebooks without outputs"
    plotting = [cell for cell in code if "plt.show()" in cell.source]
    assert plotting, "a notebook without a plot"

    client = NotebookClient(notebook, kernel_name="python3", timeout=120,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    # The inline backend renders each figure as a PNG output, even where MPLBACKEND says otherwise.
    client.execute(env={**os.environ, "JOURNEYS_STORE": str(store),
                        "MPLBACKEND": "module://matplotlib_inline.backend_inline"})  # raises if a cell fails

    def pngs(cell):
        return sum("image/png" in output.get("data", {}) for output in cell.outputs)

    for cell in plotting:
        assert pngs(cell) == 1, f"this plotting cell drew {pngs(cell)} figures:\n{cell.source[:400]}"
    assert sum(pngs(cell) for cell in code) == len(plotting)
