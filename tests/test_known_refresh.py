"""Two runs share a store: a continuous run takes up what the other one found while it goes on.

Run A explores a fixed build continuously; run B explores a build with bugs into the same store
and ends. A, reading the store every second, knows B's failures from then on: once the same bugs
appear on A's target, A records them as known failures met again, and neither shrinks nor reports
them a second time. On both test targets, with different seeds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from demo_shop import DemoShop, start_in_thread
from engine.store import connect

from .conftest import ROOT
from .library_app import Library

TARGETS = {
    "shop": (lambda bugs: DemoShop(bugs=bugs, seed=0), ROOT / "models" / "shop.py", ("login_after_deletion",), "3"),
    "library": (lambda bugs: Library(bugs=bugs), ROOT / "tests" / "library_model.py", ("loan_owner",), "8"),
}


def journeys(*args, cwd):
    return [sys.executable, "-m", "engine.cli", *args], dict(cwd=cwd, text=True, env={**os.environ, "COLUMNS": "200"})


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_continuous_run_knows_what_another_run_stored_meanwhile(tmp_path, name):
    make_app, model, bugs, seed = TARGETS[name]
    app_a, app_b = make_app(()), make_app(bugs)
    url_a, stop_a = start_in_thread(app_a)
    url_b, stop_b = start_in_thread(app_b)
    try:
        command, options = journeys("explore", str(model), "--target", url_a, "--forever", "--duration", "28s",
                                    "--known-refresh-every", "1s", "--no-recheck", "--rate", "200/s",
                                    "--seed", seed, "--no-examples-db", "--json", "a.json", cwd=tmp_path)
        run_a = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **options)
        command, options = journeys("explore", str(model), "--target", url_b, "--journeys", "80", "--seed", seed,
                                    "--no-examples-db", "--json", "b.json", cwd=tmp_path)
        run_b = subprocess.run(command, capture_output=True, timeout=300, **options)
        assert run_b.returncode == 1, run_b.stdout[-3000:] + run_b.stderr[-2000:]
        assert run_a.poll() is None, "run A ended before run B had stored its failures"
        time.sleep(3)  # A reads the store again within a second
        app_a.bugs = frozenset(bugs)  # the same bugs now reach A's target
        out, err = run_a.communicate(timeout=120)
    finally:
        stop_a()
        stop_b()
    assert run_a.returncode == 1, out[-3000:] + err[-2000:]  # known failures met count as found
    found_by_b = {f["id"] for f in json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))["failures"]}
    report_a = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    assert found_by_b and "another run stored are known now" in out, out[-3000:]
    # A met B's failures on its own target, as known ones: not reported, not shrunk, not replayed.
    met = set(report_a["known_met"]) & found_by_b
    assert met, (report_a["known_met"], found_by_b, out[-3000:])
    assert not {f["id"] for f in report_a["failures"]} & found_by_b
    store = connect(tmp_path / "journeys-store")
    reported, investigated = store.execute(
        "SELECT (SELECT count(*) FROM failures_found WHERE run_id = $run AND list_contains($met, fingerprint)), "
        "(SELECT count(*) FROM journeys WHERE run_id = $run AND phase <> 'explore')",
        {"run": report_a["run_id"], "met": sorted(met)}).fetchone()
    assert reported == 0
    new_in_a = {f["id"] for f in report_a["failures"]}
    assert investigated == 0 or new_in_a, investigated  # only a failure of A's own is ever shrunk
