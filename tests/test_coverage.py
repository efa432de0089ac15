"""Coverage: measured the same in the run and in the store, steered by --strategy coverage to what
random walks seldom reach (the generated maze: 50 states, 200 actions, gated deep layers), and
--until stopping a run once a condition is met. Several seeds each; the properties, not one path."""

from __future__ import annotations

import json

from engine.store import connect

from .conftest import ROOT, run_journeys

MAZE = str(ROOT / "tests" / "maze_model.py")
SEEDS = (1, 2, 3)


def explore(tmp_path, model, *args):
    result = run_journeys("explore", model, "--target", "demo", "--no-examples-db", "--json", "r.json", *args,
                          cwd=tmp_path)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    return json.loads((tmp_path / "r.json").read_text()), result


def test_coverage_guided_walks_reach_edges_random_walks_do_not_in_the_same_budget(tmp_path):
    reached = {}
    for strategy in ("random", "coverage"):
        for seed in SEEDS:
            report, _ = explore(tmp_path, MAZE, "--journeys", "60", "--seed", str(seed), "--strategy", strategy,
                                "--no-store")
            coverage = report["coverage"]
            assert coverage["edges"] == 200 and coverage["pairs"] == 800 and coverage["strategy"] == strategy
            reached[strategy, seed] = (coverage["edges_taken"], coverage["pairs_taken"], report["steps"])
    random_best = max(reached["random", seed][0] for seed in SEEDS)
    guided_worst = min(reached["coverage", seed][0] for seed in SEEDS)
    assert guided_worst > random_best * 1.2, reached  # measured: random 108-113 of 200, guided 159-183
    assert min(reached["coverage", s][1] for s in SEEDS) > max(reached["random", s][1] for s in SEEDS), reached


def test_the_store_counts_the_coverage_the_run_reported_and_report_lists_what_was_never_walked(tmp_path):
    for seed in (4, 5):
        report, result = explore(tmp_path, MAZE, "--journeys", "15", "--seed", str(seed))
        coverage = report["coverage"]
        assert f"edge coverage {coverage['edges_taken']}/200" in " ".join(result.stdout.split())
        store = connect(tmp_path / "journeys-store")
        run = report["run_id"]
        assert store.execute("SELECT count(*) FILTER (WHERE hits > 0), count(*) FROM edge_coverage WHERE run_id = ?",
                             [run]).fetchone() == (coverage["edges_taken"], 200)
        assert store.execute("SELECT count(*) FILTER (WHERE hits > 0), count(*) FROM edge_pair_coverage "
                             "WHERE run_id = ?", [run]).fetchone() == (coverage["pairs_taken"], 800)
        assert store.execute("SELECT edges_taken, edge_pairs_taken, strategy FROM runs WHERE run_id = ?",
                             [run]).fetchone() == (coverage["edges_taken"], coverage["pairs_taken"], "random")
        assert coverage["never_taken"] and coverage["edges_taken"] < 200
    report = run_journeys("report", cwd=tmp_path)
    said = " ".join(report.stdout.split())
    assert report.returncode == 0 and "Coverage of maze:" in said and "Never walked" in said, report.stdout[-2000:]


def test_actions_that_could_never_run_are_listed_with_the_reason(tmp_path):
    model = tmp_path / "gated.py"
    model.write_text(
        "from engine import Model\n"
        "model = Model('gated', states=['out', 'in', 'vault'], start='out')\n"
        "@model.action(source='out', target='in')\n"
        "def enter(step):\n    step.expect_status(step.get('/api/products'), 200)\n"
        "@model.action(source='in', target='out')\n"
        "def leave(step):\n    step.expect_status(step.get('/api/products'), 200)\n"
        "@model.action(source='in', target='vault', precondition=lambda me: me.get('key'))\n"
        "def open_vault(step):\n    step.expect_status(step.get('/api/products'), 200)\n"
        "@model.action(source='vault', target='out')\n"
        "def run_away(step):\n    step.expect_status(step.get('/api/products'), 200)\n")
    report, result = explore(tmp_path, str(model), "--journeys", "10", "--seed", "1", "--no-store")
    never_ran = report["coverage"]["never_ran"]
    assert never_ran == ["open_vault: in 'in' its precondition never held",
                         "run_away: no journey reached 'vault'"], never_ran
    assert "could never run: open_vault: in 'in' its precondition never held" in " ".join(result.stdout.split())


def test_until_stops_a_run_once_a_condition_is_met(tmp_path):
    for seed in SEEDS:
        report, _ = explore(tmp_path, MAZE, "--strategy", "coverage", "--until", "edge-coverage=100%",
                            "--duration", "120s", "--seed", str(seed), "--no-store")
        assert report["stop_reason"] == "--until edge-coverage=100% met", report["stop_reason"]
        assert report["coverage"]["edges_taken"] == 200
    report, _ = explore(tmp_path, MAZE, "--until", "failures=1", "--until", "edge-pair-coverage=100%",
                        "--duration", "120s", "--seed", "1", "--no-store")
    assert report["stop_reason"] == "--until failures=1 met" and len(report["failures"]) == 1
    for value, words in (("edge-coverage=101%", "at most 100%"), ("edge-coverage=50", "percentage"),
                         ("failures=0", "1 or more"), ("speed=9", "edge-coverage=N%")):
        result = run_journeys("explore", MAZE, "--target", "demo", "--until", value, cwd=tmp_path)
        assert result.returncode == 2 and words in result.stderr, (value, result.stderr[-1000:])
