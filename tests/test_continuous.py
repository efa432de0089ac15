"""Continuous runs: rounds until stopped, past the failures the store already knows."""

from __future__ import annotations

import json

from demo_shop import DemoShop, start_in_thread
from engine.store import connect

from .conftest import ROOT, run_journeys

MODEL = str(ROOT / "models" / "shop.py")


def test_a_continuous_run_does_not_shrink_or_report_known_failures_again(tmp_path):
    url, stop = start_in_thread(DemoShop(bugs=True, seed=0))
    try:
        first = run_journeys("explore", MODEL, "--target", url, "--seed", "3", "--journeys", "80",
                             "--no-examples-db", cwd=tmp_path)
        assert first.returncode == 1, first.stderr[-2000:]
        second = run_journeys("explore", MODEL, "--target", url, "--seed", "4", "--forever", "--duration", "12s", "--journeys", "5",
                              "--no-examples-db", "--json", "second.json", cwd=tmp_path)
    finally:
        stop()
    assert second.returncode == 1, second.stderr[-2000:]  # known failures met again count as found
    report = json.loads((tmp_path / "second.json").read_text(encoding="utf-8"))
    store = connect(tmp_path / "journeys-store")
    first_id, second_id = [row[0] for row in store.execute(
        "SELECT run_id FROM runs ORDER BY started_at").fetchall()]
    assert second_id == report["run_id"]
    known = {row[0] for row in store.execute("SELECT fingerprint FROM failures_found WHERE run_id = ?",
                                             [first_id]).fetchall()}
    again = {row[0] for row in store.execute("SELECT fingerprint FROM failures_found WHERE run_id = ?",
                                             [second_id]).fetchall()}
    assert known and not known & again  # none reported twice
    met = {row[0] for row in store.execute(
        "SELECT DISTINCT fingerprint FROM journeys WHERE run_id = ? AND outcome = 'known'", [second_id]).fetchall()}
    assert met & known  # it walked past them, recording occurrences
    # Shrinking in the second run only for what was new there, if anything.
    shrink = store.execute("SELECT count(*) FROM journeys WHERE run_id = ? AND phase = 'shrink'",
                           [second_id]).fetchone()[0]
    assert shrink == 0 or again
    assert "known from the store met again" in second.stdout
    assert "until stopped" in second.stdout
    # The journeys budget does not end a continuous run: its time does.
    explored = store.execute("SELECT journeys, stop_reason FROM runs WHERE run_id = ?", [second_id]).fetchone()
    assert explored[1] == "time budget spent" and explored[0] > 5
