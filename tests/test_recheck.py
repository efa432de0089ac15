"""A continuous run re-checks the failures the store knows instead of finding and shrinking them again:
fixed against a build without the bugs, regressed once they are back. On two targets."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from demo_shop import DemoShop, start_in_thread
from engine.store import connect

from .conftest import ROOT
from .library_app import Library

TARGETS = {
    "shop": (lambda bugs: DemoShop(bugs=bugs, seed=0), ROOT / "models" / "shop.py",
             ("order_owner_check", "delivery_note_copy")),
    "library": (lambda bugs: Library(bugs=bugs), ROOT / "tests" / "library_model.py", ("loan_owner",)),
}


def explore(tmp_path, app, model, *args):
    url, stop = start_in_thread(app)
    try:
        return subprocess.run([sys.executable, "-m", "engine.cli", "explore", str(model), "--target", url,
                               "--no-examples-db", *args], cwd=tmp_path, capture_output=True, text=True,
                              timeout=600, env={**os.environ, "COLUMNS": "200"})
    finally:
        stop()


def last_run(store) -> str:
    return store.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()[0]


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_known_failures_are_rechecked_fixed_then_regressed_and_never_shrunk_again(tmp_path, name):
    make_app, model, bugs = TARGETS[name]
    found = explore(tmp_path, make_app(bugs), model, "--journeys", "80", "--seed", "4")
    assert found.returncode == 1, found.stdout[-3000:] + found.stderr[-2000:]
    store = connect(tmp_path / "journeys-store")
    known = {row[0] for row in store.execute("SELECT fingerprint FROM failures").fetchall()}
    assert known

    fixed = explore(tmp_path, make_app(()), model, "--forever", "--duration", "8s", "--recheck-times", "2")
    assert fixed.returncode == 0, fixed.stdout[-3000:] + fixed.stderr[-2000:]
    store = connect(tmp_path / "journeys-store")
    run = last_run(store)
    verdicts = dict(store.execute("SELECT fingerprint, verdict FROM replays WHERE run_id = ?", [run]).fetchall())
    assert verdicts == {fingerprint: "fixed" for fingerprint in known}
    lifecycle = dict(store.execute("SELECT fingerprint, status FROM failure_lifecycle").fetchall())
    assert {lifecycle[f] for f in known} == {"fixed"}

    back = explore(tmp_path, make_app(bugs), model, "--forever", "--duration", "8s", "--recheck-times", "2")
    assert back.returncode == 1, back.stdout[-3000:] + back.stderr[-2000:]
    assert "regressed" in back.stdout
    store = connect(tmp_path / "journeys-store")
    run = last_run(store)
    verdicts = dict(store.execute("SELECT fingerprint, verdict FROM replays WHERE run_id = ?", [run]).fetchall())
    assert verdicts == {fingerprint: "still failing" for fingerprint in known}
    lifecycle = dict(store.execute("SELECT fingerprint, status FROM failure_lifecycle").fetchall())
    assert {lifecycle[f] for f in known} == {"regressed"}
    # Known failures were neither shrunk nor reported again by the continuous runs.
    later = [r[0] for r in store.execute("SELECT run_id FROM runs ORDER BY started_at").fetchall()[1:]]
    shrunk, reported = store.execute(
        "SELECT (SELECT count(*) FROM journeys WHERE phase = 'shrink' AND list_contains(?, run_id)), "
        "(SELECT count(*) FROM failures_found WHERE list_contains(?, run_id) AND list_contains(?, fingerprint))",
        [later, later, sorted(known)]).fetchone()
    assert (shrunk, reported) == (0, 0)


def test_no_recheck_sends_no_replays(tmp_path):
    make_app, model, bugs = TARGETS["library"]
    found = explore(tmp_path, make_app(bugs), model, "--journeys", "80", "--seed", "5")
    assert found.returncode == 1, found.stdout[-3000:]
    again = explore(tmp_path, make_app(bugs), model, "--forever", "--duration", "4s", "--no-recheck")
    assert "re-check" not in again.stdout
    store = connect(tmp_path / "journeys-store")
    assert store.execute("SELECT count(*) FROM replays").fetchone()[0] == 0
