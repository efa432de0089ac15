"""A target that goes down mid-run is waited out as one availability incident, never a finding.

A real server on 127.0.0.1 is stopped while the run explores and started again on the same
port (the same application, so its data survives, as a restarted service's database would).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from demo_shop import DemoShop, start_in_thread
from engine.http.breaker import Breaker, BreakerSettings
from engine.store import connect

from .conftest import ROOT, free_port
from .library_app import Library

TARGETS = {
    "demo shop": (lambda: DemoShop(bugs=True, seed=0), ROOT / "models" / "shop.py"),
    "library": (Library, ROOT / "tests" / "library_model.py"),
}


class Counted:
    def __init__(self, app) -> None:
        self.app = app
        self.arrivals: list[float] = []

    def __call__(self, environ, start_response):
        self.arrivals.append(time.time())
        return self.app(environ, start_response)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_an_outage_is_one_incident_and_no_failure(tmp_path, name):
    make_app, model = TARGETS[name]
    app = Counted(make_app())
    port = free_port()
    url, stop = start_in_thread(app, port=port)
    down = {}

    def outage() -> None:
        nonlocal stop
        time.sleep(6)
        stop()
        down["from"] = time.time()
        time.sleep(6)
        down["until"] = time.time()
        _, stop = start_in_thread(app, port=port)

    run = subprocess.Popen([sys.executable, "-m", "engine.cli", "explore", str(model), "--target", url,
                            "--duration", "30s", "--seed", "3", "--no-examples-db", "--json", "report.json"],
                           cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    switch = threading.Thread(target=outage)
    switch.start()
    try:
        out, err = run.communicate(timeout=300)
    finally:
        switch.join()
        stop()
    assert run.returncode in (0, 1), err[-3000:]
    assert "Traceback" not in err + out
    store = connect(tmp_path / "journeys-store")
    incidents = store.execute("SELECT epoch(started_at), epoch(ended_at), probes, reason, journeys_discarded "
                              "FROM incidents").fetchall()
    assert len(incidents) == 1, incidents
    started, ended, probes, reason, journeys_discarded = incidents[0]
    assert down["from"] - 1 <= started <= down["until"] and down["until"] <= ended <= down["until"] + 10, \
        (incidents, down)
    assert 2 <= probes <= 8  # backing off: 1, 2, 4 s... not hammering a dead port
    # Nothing from the outage is a finding: no failure without an answer, no reproduction of one.
    found = store.execute("SELECT status_class, check_name, kind FROM failures_found").fetchall()
    assert not [f for f in found if f[0] == "no response" or f[1] == "target answers"], found
    assert all("no response" not in path.read_text(encoding="utf-8")
               for path in (tmp_path / "reproductions").glob("*")) if (tmp_path / "reproductions").exists() else True
    # The walk resumed and went on finding bugs.
    after = store.execute("SELECT count(*) FROM journeys WHERE phase = 'explore' AND epoch(finished_at) > ?",
                          [ended]).fetchone()[0]
    assert after >= 5
    assert found, "the seeded bugs were still found"
    # The outage cut short either the exploring journey under way (discarded) or the investigation
    # of a failure (postponed, and investigated again after the next journey), whichever it met.
    discarded = store.execute("SELECT count(*) FROM journeys WHERE outcome = 'discarded'").fetchone()[0]
    assert discarded == journeys_discarded
    said = " ".join(out.split())
    assert discarded == 1 or "the target went down while this failure was investigated" in said, said[-3000:]
    assert "availability incident" in out


def test_one_failing_endpoint_is_not_an_outage():
    """The breaker asks the target before it calls anything an outage: a probe that answers means
    one endpoint is failing (a bug for the walk to find), and the counts start again."""
    probes = []
    breaker = Breaker(lambda: probes.append(1) or True, BreakerSettings(consecutive=3, window=10, ratio=0.8),
                      sleep=lambda s: None)
    for _ in range(7):
        breaker.note(True)
    assert not breaker.open and len(probes) == 2  # asked twice (after 3 and 6 in a row), up both times
    breaker.before_send()  # nothing raised: requests go on


def test_a_probe_that_gets_no_answer_opens_the_breaker_until_one_does():
    answers = iter([False, False, False, True])
    waits = []
    breaker = Breaker(lambda: next(answers), BreakerSettings(consecutive=2, first_wait_s=1, max_wait_s=3),
                      sleep=waits.append)
    breaker.note(True)
    breaker.note(True)
    assert breaker.open
    with pytest.raises(Exception, match="target is down"):
        breaker.before_send()
    incident = breaker.wait_out()
    assert waits == [1, 2, 3] and incident.ended_at is not None and incident.probes == 4
    assert not breaker.open and breaker.incidents == [incident]


def test_a_slow_window_asks_the_target_and_a_slow_probe_opens_the_breaker():
    answers = iter([True, False])  # up (a slow endpoint, not an outage), then too slow to count as up
    breaker = Breaker(lambda: next(answers), BreakerSettings(window=20, slow_s=0.5), sleep=lambda s: None)
    for _ in range(20):
        breaker.note(False, 1.2)
    assert not breaker.open  # asked once; the target answered in time
    for index in range(20):
        breaker.note(False, 1.2 if index % 3 == 0 else 0.1)
    assert not breaker.open  # a few slow answers, the median fast
    for _ in range(20):
        breaker.note(False, 2.0)
    assert breaker.open and "median answer" in breaker.incident.reason
