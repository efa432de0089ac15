"""Must-walk journeys: a model's golden paths are the first journeys of every round, walked step by
step as declared (data drawn as usual), on the demo shop and on the library; a path the model
cannot walk is a model error naming it."""

from __future__ import annotations

import pytest

from demo_shop import start_in_thread
from engine.store import connect

from .conftest import ROOT, run_journeys
from .library_app import Library

GOLDEN = {
    "shop": ("from models.shop import model\n"
             "model.must_walk('sign_up', 'add_to_cart', 'checkout', name='buy')\n"
             "model.must_walk('bob.sign_up', 'bob.order_history', name='bob-history')\n",
             {"buy": ["alice.sign_up", "alice.add_to_cart", "alice.checkout"],
              "bob-history": ["bob.sign_up", "bob.order_history"]}),
    "library": ("import sys\nsys.path.insert(0, %r)\nfrom tests.library_model import model\n"
                "model.must_walk('join', 'shelve_book', 'browse_shelf', name='shelve')\n" % str(ROOT),
                {"shelve": ["ann.join", "ann.shelve_book", "ann.browse_shelf"]}),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_paths_are_walked_first_in_every_round(tmp_path, name):
    source, paths = GOLDEN[name]
    (tmp_path / "golden.py").write_text(source)
    target, stop = ("demo", None) if name == "shop" else start_in_thread(Library())
    try:
        result = run_journeys("explore", "golden.py", "--target", target, "--journeys", "420", "--seed", "3",
                              "--no-examples-db", "--no-demo-bugs", cwd=tmp_path)
    finally:
        if stop:
            stop()
    assert result.returncode in (0, 1), result.stderr[-3000:]
    store = connect(tmp_path / "journeys-store")
    rounds = store.execute("""
        SELECT round, list(must_walk ORDER BY journey), list(journey ORDER BY journey)
        FROM journeys WHERE phase = 'explore' GROUP BY round ORDER BY round""").fetchall()
    assert len(rounds) >= 2, rounds  # the budget spans rounds: each must begin with the paths
    for number, walks, journeys in rounds:
        assert walks[:len(paths)] == list(paths) and not any(walks[len(paths):]), (number, walks[:5])
        for path, journey in zip(paths, journeys):
            steps = [row[0] for row in store.execute(
                "SELECT actor || '.' || action FROM steps WHERE journey = ? ORDER BY step", [journey]).fetchall()]
            assert steps == paths[path], (number, path, steps)


def test_a_path_the_model_cannot_walk_is_a_model_error_naming_it(tmp_path):
    for line, words in (("model.must_walk('sign_up', 'teleport')", "step 2 names 'teleport'"),
                        ("model.must_walk('checkout')", "step 1 (checkout) cannot leave 'anonymous'"),
                        ("model.must_walk('carol.sign_up')", "actor 'carol'")):
        (tmp_path / "bad.py").write_text(f"from models.shop import model\n{line}\n")
        for command in (["validate", "bad.py"], ["explore", "bad.py", "--target", "demo"]):
            result = run_journeys(*command, cwd=tmp_path)
            assert result.returncode == 2 and words in result.stderr and "must-walk path" in result.stderr, \
                (line, command, result.stderr[-1500:])
