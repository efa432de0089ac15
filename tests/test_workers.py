"""``explore --workers N``: several processes against one served target, one rate cap, one store,
each failure investigated and reported once; a signal stops them all well."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from demo_shop import DemoShop, start_in_thread
from engine.store import connect
from engine.store.ledger import read_ledger

from .conftest import ROOT, run_journeys
from .library_app import Library
from .test_rate_cap import Clocked, most_in_any_second

TARGETS = {
    "demo shop": (lambda: DemoShop(bugs=True, seed=0), ROOT / "models" / "shop.py"),
    "library": (Library, ROOT / "tests" / "library_model.py"),
}


@pytest.mark.parametrize("name", sorted(TARGETS))
@pytest.mark.parametrize("seed", ["3", "11"])
def test_two_workers_report_each_failure_once_and_the_store_has_both(tmp_path, name, seed):
    make_app, model = TARGETS[name]
    url, stop = start_in_thread(make_app())
    try:
        result = run_journeys("explore", str(model), "--target", url, "--workers", "2", "--journeys", "120",
                              "--seed", seed, "--no-examples-db", "--json", "r.json", cwd=tmp_path)
    finally:
        stop()
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    runs = report["runs"]
    assert len(runs) == 2 and len({r["seed"] for r in runs}) == 2
    assert all(r["journeys"] == 60 for r in runs), runs  # the budget is split between the workers
    reported = [f for r in runs for f in r["failures"]]
    assert reported and len(reported) == len(set(reported)), runs  # each failure by one worker only
    store = connect(tmp_path / "journeys-store")
    found = store.execute("SELECT fingerprint, count(*), count(DISTINCT run_id) FROM failures_found "
                          "GROUP BY fingerprint").fetchall()
    assert sorted(f for f, _, _ in found) == sorted(reported) and all(n == 1 for _, n, _ in found), found
    # The other worker met failures the first had claimed, and stepped past them instead of shrinking.
    assert "another worker is investigating it" in " ".join(result.stdout.split())
    explored = dict(store.execute("SELECT run_id, count(*) FROM journeys WHERE phase = 'explore' "
                                  "GROUP BY run_id").fetchall())
    assert sorted(explored) == sorted(r["run_id"] for r in runs)
    # Occurrences come from both workers: a failure met by the one that did not report it counts.
    both = store.execute("SELECT fingerprint FROM journeys WHERE phase = 'explore' AND fingerprint IS NOT NULL "
                         "GROUP BY fingerprint HAVING count(DISTINCT run_id) = 2").fetchall()
    assert both, "no failure was met by both workers"
    assert f"{len(reported)} distinct failure(s)" in " ".join(result.stdout.split())


def test_four_workers_stay_under_one_cap_on_the_server_side(tmp_path):
    clocked = Clocked(DemoShop(bugs=True, seed=0))
    url, stop = start_in_thread(clocked)
    try:
        result = run_journeys("explore", str(ROOT / "models" / "shop.py"), "--target", url, "--workers", "4",
                              "--rate", "20/s", "--duration", "12s", "--seed", "5", "--no-examples-db",
                              "--json", "r.json", cwd=tmp_path)
    finally:
        stop()
    assert result.returncode in (0, 1), result.stderr[-3000:]
    runs = json.loads((tmp_path / "r.json").read_text())["runs"]
    assert len(runs) == 4 and all(r["steps"] > 0 for r in runs)  # every worker took its share
    assert len(clocked.arrivals) > 8 * 20
    assert most_in_any_second(clocked.arrivals) <= 20


def test_one_signal_stops_every_worker_well(tmp_path):
    shop = DemoShop(bugs=False, seed=0)
    url, stop = start_in_thread(shop)
    try:
        run = subprocess.Popen([sys.executable, "-m", "engine.cli", "explore", str(ROOT / "models" / "shop.py"),
                                "--target", url, "--workers", "3", "--forever", "--duration", "120s", "--seed", "2",
                                "--no-examples-db"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        time.sleep(8)
        signalled = time.monotonic()
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=60)
        took = time.monotonic() - signalled
    finally:
        stop()
    assert run.returncode == 130, out[-2000:] + err[-2000:]
    assert took < 20, took
    assert "Traceback" not in err + out
    store = connect(tmp_path / "journeys-store")
    statuses = store.execute("SELECT status, stop_reason FROM runs").fetchall()
    assert statuses == [("interrupted", "stopped by SIGTERM")] * 3, statuses
    created = store.execute("SELECT count(*) FROM steps WHERE action = 'sign_up' AND status = 201").fetchone()[0]
    live = [user for user in shop._users.values() if not user.deleted]
    assert created and not live, (created, len(live))
    assert sorted(r.state() for r in read_ledger(tmp_path / "journeys-store").runs.values()) == ["finished"] * 3


def test_workers_need_a_served_target_and_a_count_of_at_least_one(tmp_path):
    demo = run_journeys("explore", str(ROOT / "models" / "shop.py"), "--target", "demo", "--workers", "2",
                        cwd=tmp_path)
    assert demo.returncode == 2 and "--workers" in demo.stderr and "demo serve" in demo.stderr
    zero = run_journeys("explore", str(ROOT / "models" / "shop.py"), "--target", "demo", "--workers", "0",
                        cwd=tmp_path)
    assert zero.returncode == 2 and "--workers" in zero.stderr


def test_the_project_file_can_ask_for_workers(tmp_path):
    url, stop = start_in_thread(Library())
    (tmp_path / "journeys.toml").write_text(
        f'model = "{ROOT / "tests" / "library_model.py"}"\ntarget = "{url}"\nworkers = 2\njourneys = 20\n'
        'seed = 8\nexamples_db = ".journeys/examples"\n', encoding="utf-8")
    try:
        result = run_journeys("explore", "--json", "r.json", cwd=tmp_path)
    finally:
        stop()
    assert result.returncode in (0, 1), result.stdout[-2000:] + result.stderr[-2000:]
    runs = json.loads((tmp_path / "r.json").read_text())["runs"]
    assert [r["journeys"] for r in runs] == [10, 10] and [r["seed"] for r in runs] == [8, 9]


def test_workers_without_a_store_leave_no_folder_behind(tmp_path):
    """--no-store: the workers' reports and heartbeats live in a temporary folder, removed at the end."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    url, stop = start_in_thread(Library())
    try:
        result = run_journeys("explore", str(ROOT / "tests" / "library_model.py"), "--target", url,
                              "--workers", "2", "--journeys", "6", "--seed", "3", "--no-store",
                              "--no-examples-db", "--json", "r.json", cwd=tmp_path, env_extra={"TMPDIR": str(scratch)})
    finally:
        stop()
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-3000:]
    assert len(json.loads((tmp_path / "r.json").read_text())["runs"]) == 2  # the workers did report
    assert not (tmp_path / "journeys-store").exists()
    assert list(scratch.iterdir()) == []
