"""Safe to point at a live service: tagged traffic, allowed hosts only, no request sent twice.

Real servers on 127.0.0.1 count what they receive on their own side.
"""

from __future__ import annotations

import json
import threading
import time

from demo_shop import DemoShop, start_in_thread
from engine.store import connect

from .conftest import ROOT, run_journeys


class Recording:
    """A WSGI wrapper that notes each request's method, path and headers, then passes it on."""

    def __init__(self, app) -> None:
        self.app = app
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        with self.lock:
            self.seen.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), headers))
        return self.app(environ, start_response)


def test_every_request_carries_the_run_id_and_user_agent(tmp_path):
    recording = Recording(DemoShop(bugs=True, seed=0))
    url, stop = start_in_thread(recording)
    try:
        result = run_journeys("explore", str(ROOT / "models" / "shop.py"), "--target", url, "--seed", "3",
                              "--journeys", "30", "--max-steps", "10", "--no-examples-db", "--json", "report.json",
                              cwd=tmp_path)
    finally:
        stop()
    assert result.returncode in (0, 1), result.stderr[-2000:]
    run_id = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["run_id"]
    # Shrinking, replays, the check before a file is written, clean-ups and pre-flight alike.
    assert len(recording.seen) > 200
    untagged = [(m, p) for m, p, h in recording.seen if h.get("x-journeys-run") != run_id]
    assert not untagged, untagged[:5]
    assert all(h.get("user-agent", "").startswith("journeys/") and run_id in h["user-agent"]
               for _, _, h in recording.seen)
    # The tag is not part of what a reproduction sends: it is the run's, not the journey's. (Left-behind
    # state names the run that left the data: that is where the data came from, not something sent.)
    stored = connect(tmp_path / "journeys-store").execute("SELECT reproduction FROM failures").fetchall()
    assert stored
    for (text,) in stored:
        reproduction = json.loads(text)
        if reproduction.get("left_behind"):
            assert reproduction["left_behind"].pop("run_id") == run_id
        assert run_id not in json.dumps(reproduction), text[:3000]


ELSEWHERE_MODEL = '''
from engine import Model

model = Model("elsewhere", states=["start"], start="start")


@model.action(source="start", target=None)
def look_here(step):
    step.expect_status(step.get("/healthz"), 200)


@model.action(source="start", target=None)
def call_out(step):
    step.get("{elsewhere}/steal")
'''


def test_a_request_to_a_host_not_allowed_is_refused_before_it_is_sent(tmp_path):
    target, elsewhere = Recording(DemoShop(bugs=False)), Recording(DemoShop(bugs=False))
    url, stop = start_in_thread(target)
    other, stop_other = start_in_thread(elsewhere)
    model = tmp_path / "elsewhere.py"
    model.write_text(ELSEWHERE_MODEL.replace("{elsewhere}", other), encoding="utf-8")
    try:
        refused = run_journeys("explore", str(model), "--target", url, "--journeys", "20", "--no-examples-db",
                               cwd=tmp_path)
        assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr[-2000:]
        assert "Traceback" not in refused.stderr
        assert "'call_out'" in refused.stderr and other.removeprefix("http://") in refused.stderr
        assert "--allow-host" in refused.stderr
        assert elsewhere.seen == []  # nothing reached the other server
        allowed = run_journeys("explore", str(model), "--target", url, "--journeys", "5", "--no-examples-db",
                               "--allow-host", other.removeprefix("http://"), cwd=tmp_path)
        assert allowed.returncode in (0, 1), allowed.stderr[-2000:]
        assert elsewhere.seen
    finally:
        stop()
        stop_other()
    bad = run_journeys("explore", str(model), "--target", "demo", "--allow-host", "a:b", cwd=tmp_path)
    assert bad.returncode == 2 and "--allow-host 'a:b'" in bad.stderr


class Slow:
    """Answers every request to /slow after a pause longer than the client waits."""

    def __init__(self, pause_s: float) -> None:
        self.pause_s = pause_s
        self.count = {"GET": 0, "POST": 0}
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        if environ.get("PATH_INFO") == "/slow":
            with self.lock:
                self.count[method] += 1
            time.sleep(self.pause_s)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]


SLOW_MODEL = '''
from engine import Model

model = Model("slow", states=["start"], start="start")


@model.action(source="start", target=None)
def order(step):
    step.expect_status(step.post("/slow", json={"item": 1}), 200)


@model.action(source="start", target=None)
def look(step):
    step.expect_status(step.get("/slow"), 200)
'''


def test_a_post_that_timed_out_after_it_was_sent_is_not_sent_again(tmp_path):
    slow = Slow(pause_s=0.6)
    url, stop = start_in_thread(slow)
    model = tmp_path / "slow.py"
    model.write_text(SLOW_MODEL, encoding="utf-8")
    try:
        result = run_journeys("explore", str(model), "--target", url, "--journeys", "3", "--max-steps", "2",
                              "--timeout", "0.2", "--replays", "1", "--shrink-budget", "10", "--no-examples-db",
                              "--json", "report.json", cwd=tmp_path)
        time.sleep(1.0)  # answers still pausing are counted on arrival; let them all arrive
    finally:
        stop()
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    steps = connect(tmp_path / "journeys-store").execute(
        "SELECT method, count(*), sum(requests) FROM steps WHERE path = '/slow' GROUP BY method").fetchall()
    sent = {method: (count, attempts) for method, count, attempts in steps}
    # Each POST reached the server exactly once; each GET up to three times (it is idempotent).
    assert slow.count["POST"] == sent["POST"][0] == sent["POST"][1], (slow.count, sent)
    if "GET" in sent:
        assert slow.count["GET"] == sent["GET"][1] == 3 * sent["GET"][0], (slow.count, sent)
