"""Alerts reach real receivers on 127.0.0.1 (standing in for PagerDuty, Slack and a webhook):
one trigger per failure across runs, a resolve when a replay finds it fixed, retries when a
receiver fails for a while, and no secret in any payload."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from demo_shop import DemoShop, start_in_thread
from engine.store import connect

from .conftest import ROOT, free_port
from .library_app import Library


class Receiver:
    """An HTTP server that records every JSON body POSTed to it; answers ``fail_first`` 500s first.
    While ``hang_s`` is set, it holds each request that long before it answers (a sink that is slow
    or stuck)."""

    def __init__(self, fail_first: int = 0, hang_s: float = 0.0) -> None:
        self.bodies: list[dict] = []
        self.answers: list[int] = []
        self.fail_first = fail_first
        self.hang_s = hang_s
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.hang_s:
                    time.sleep(receiver.hang_s)
                    receiver.answers.append(0)
                    return  # the client gave up long ago
                status = 500 if len(receiver.answers) < receiver.fail_first else 202
                receiver.answers.append(status)
                if status == 202:
                    receiver.bodies.append({"json": json.loads(body), "headers": dict(self.headers)})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    made = {"pagerduty": Receiver(), "slack": Receiver(), "webhook": Receiver(fail_first=3)}
    yield made
    for receiver in made.values():
        receiver.stop()


def journeys(*args, cwd, env):
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, env={**os.environ, "COLUMNS": "200", **env})


def sinks(receivers):
    flags = ["--pagerduty-key-env", "PD_KEY", "--pagerduty-url", receivers["pagerduty"].url,
             "--slack-webhook-env", "SLACK_URL", "--webhook-url", receivers["webhook"].url,
             "--webhook-header", "X-Hook-Token=HOOK_TOKEN"]
    env = {"PD_KEY": "pd-routing-key-s3cret", "SLACK_URL": receivers["slack"].url, "HOOK_TOKEN": "hook-s3cret"}
    return flags, env


@pytest.mark.parametrize("seed", ["1", "2"])
def test_one_trigger_per_failure_a_resolve_when_fixed_and_nothing_again(tmp_path, receivers, seed):
    flags, env = sinks(receivers)
    url, stop = start_in_thread(DemoShop(bugs=("login_after_deletion", "order_owner_check"), seed=0))
    try:
        first = journeys("explore", str(ROOT / "models" / "shop.py"), "--target", url, "--seed", seed,
                         "--journeys", "80", "--no-examples-db", "--json", "r.json", *flags, cwd=tmp_path, env=env)
        assert first.returncode == 1, first.stdout[-3000:] + first.stderr[-3000:]
        found = {f["id"]: f for f in json.loads((tmp_path / "r.json").read_text())["failures"]}
        regressions = {i for i, f in found.items() if f["kind"] == "regression"}
        assert regressions
        pd = [b["json"] for b in receivers["pagerduty"].bodies]
        # Exactly one trigger per paging failure, with Events API v2's fields.
        assert sorted(e["dedup_key"] for e in pd) == sorted(regressions), (pd, found.keys())
        for event in pd:
            assert event["routing_key"] == env["PD_KEY"] and event["event_action"] == "trigger"
            payload = event["payload"]
            assert payload["summary"] and payload["source"] and payload["severity"] == "error"
            assert payload["custom_details"]["steps"] and "journeys replay" in payload["custom_details"]["commands"]["replay"]
        # Slack and the webhook take every kind; the webhook answered 500 three times first.
        assert len(receivers["slack"].bodies) == len(found)
        assert len(receivers["webhook"].bodies) == len(found)
        assert receivers["webhook"].answers[:3] == [500, 500, 500]
        assert all(b["headers"].get("X-Hook-Token") == env["HOOK_TOKEN"] for b in receivers["webhook"].bodies)
        store = connect(tmp_path / "journeys-store")
        rows = store.execute("SELECT sink, status, attempts FROM alerts").fetchall()
        assert {status for _, status, _ in rows} == {"delivered"}
        assert sum(attempts for sink, _, attempts in rows if sink == "webhook") == len(found) + 3
        # Nothing in what the journal keeps or the receivers got holds a credential.
        journal = "".join(p.read_text() for p in (tmp_path / "journeys-store" / "alerts").glob("*.jsonl"))
        assert env["PD_KEY"] not in journal and env["HOOK_TOKEN"] not in journal and "tok_" not in journal
        everything = json.dumps([[b["json"] for b in r.bodies] for r in receivers.values()], ensure_ascii=False)
        leaked = [everything[max(0, i - 200):i + 20] for i in range(len(everything)) if everything.startswith("tok_", i)]
        assert not leaked, leaked

        # A second run on the same store finds the same bugs and sends nothing new.
        before = {name: len(r.bodies) for name, r in receivers.items()}
        again = journeys("explore", str(ROOT / "models" / "shop.py"), "--target", url, "--seed", seed,
                         "--journeys", "80", "--no-examples-db", *flags, cwd=tmp_path, env=env)
        assert again.returncode == 1
        assert {name: len(r.bodies) for name, r in receivers.items()} == before
    finally:
        stop()

    # A replay against a fixed build resolves the page.
    fixed_url, stop = start_in_thread(DemoShop(bugs=(), seed=0))
    try:
        failure_id = sorted(regressions)[0]
        replay = journeys("replay", failure_id, "--target", fixed_url, "--times", "2", *flags, cwd=tmp_path, env=env)
        assert replay.returncode == 0, replay.stdout + replay.stderr
    finally:
        stop()
    resolves = [b["json"] for b in receivers["pagerduty"].bodies if b["json"]["event_action"] == "resolve"]
    assert [(e["dedup_key"], e["routing_key"]) for e in resolves] == [(failure_id, env["PD_KEY"])]

    # The bug comes back (a fresh build with it, the first run's walk): one trigger, as regressed.
    before = len(receivers["pagerduty"].bodies)
    url, stop = start_in_thread(DemoShop(bugs=("login_after_deletion", "order_owner_check"), seed=0))
    try:
        back = journeys("explore", str(ROOT / "models" / "shop.py"), "--target", url, "--seed", seed,
                        "--journeys", "80", "--no-examples-db", "--json", "back.json", *flags, cwd=tmp_path, env=env)
    finally:
        stop()
    assert back.returncode == 1
    met = {f["id"] for f in json.loads((tmp_path / "back.json").read_text())["failures"]}
    assert failure_id in met, (failure_id, met)  # the first run's seed, on a build like the first run's
    new = [b["json"] for b in receivers["pagerduty"].bodies[before:]]
    assert [(e["dedup_key"], e["event_action"], e["payload"]["class"]) for e in new] == \
        [(failure_id, "trigger", "regressed")], new
    assert "regressed" in new[0]["payload"]["summary"]


def test_alerts_test_reports_each_sink_and_a_missing_variable_is_one_line(tmp_path, receivers):
    flags, env = sinks(receivers)
    sent = journeys("alerts", "test", *flags, cwd=tmp_path, env=env)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.count("delivered") == 3
    assert receivers["pagerduty"].bodies[0]["json"]["payload"]["class"] == "test"
    missing = journeys("alerts", "test", "--pagerduty-key-env", "NOT_SET_ANYWHERE", cwd=tmp_path, env={})
    assert missing.returncode == 2 and "NOT_SET_ANYWHERE" in missing.stderr and "Traceback" not in missing.stderr
    none = journeys("alerts", "test", cwd=tmp_path, env={})
    assert none.returncode == 2 and "no sink configured" in none.stderr


def test_a_stuck_sink_never_holds_up_the_walk_and_the_next_run_delivers(tmp_path):
    """Each alert hangs on the receiver until the client gives up (10 s): the walk goes on meanwhile,
    the run ends with its alerts pending in the journal, and the next run on the store sends them."""
    stuck = Receiver(hang_s=30)
    library_url, stop_library = start_in_thread(Library())
    try:
        flags = ["--webhook-url", stuck.url]
        first = journeys("explore", str(ROOT / "tests" / "library_model.py"), "--target", library_url,
                         "--seed", "5", "--duration", "25s", "--no-examples-db", "--json", "r.json", *flags,
                         cwd=tmp_path, env={})
        assert first.returncode == 1, first.stdout[-3000:] + first.stderr[-3000:]
        found = {f["id"] for f in json.loads((tmp_path / "r.json").read_text())["failures"]}
        assert found and "not delivered yet" in first.stderr
        store = connect(tmp_path / "journeys-store")
        rows = store.execute("SELECT key, status, attempts, epoch(queued_at) FROM alerts").fetchall()
        assert {key for key, *_ in rows} == found and {status for _, status, *_ in rows} == {"pending"}
        # The walk went on while the first alert was stuck (its first attempt gave up 10 s later).
        first_queued = min(queued for *_, queued in rows)
        walked = store.execute("SELECT count(*) FROM journeys WHERE epoch(finished_at) BETWEEN ? AND ?",
                               [first_queued, first_queued + 9]).fetchone()[0]
        assert walked >= 5, walked
        store.close()

        stuck.hang_s = 0  # the receiver is well again: the next run sends what is pending, once each
        second = journeys("explore", str(ROOT / "tests" / "library_model.py"), "--target", library_url,
                          "--seed", "6", "--journeys", "3", "--no-examples-db", *flags, cwd=tmp_path, env={})
        assert second.returncode in (0, 1), second.stderr[-3000:]
    finally:
        stop_library()
        stuck.stop()
    delivered = [b["json"]["journeys_alert"] for b in stuck.bodies]
    assert sorted(a["key"] for a in delivered) == sorted(found)
    store = connect(tmp_path / "journeys-store")
    assert {status for (status,) in store.execute("SELECT status FROM alerts").fetchall()} == {"delivered"}


def test_an_outage_alerts_only_once_it_has_lasted_the_delay_and_resolves_when_it_ends(tmp_path):
    """Two outages in one run: one shorter than --alert-outage-after (nothing is sent), one longer
    (one trigger while it lasts, one resolve when the target answers again)."""
    receiver = Receiver()
    app, port = Library(), free_port()
    url, stop = start_in_thread(app, port=port)
    delay = 8.0
    downs = []

    def outages() -> None:
        nonlocal stop
        for start_after, lasting in ((5, 2), (6, 16)):
            time.sleep(start_after)
            stop()
            downs.append([time.time()])
            time.sleep(lasting)
            downs[-1].append(time.time())
            _, stop = start_in_thread(app, port=port)

    run = subprocess.Popen([sys.executable, "-m", "engine.cli", "explore", str(ROOT / "tests" / "library_model.py"),
                            "--target", url, "--duration", "50s", "--seed", "4", "--no-examples-db",
                            "--webhook-url", receiver.url, "--webhook-on", "outage",
                            "--alert-outage-after", f"{delay:.0f}s"],
                           cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    switch = threading.Thread(target=outages)
    switch.start()
    try:
        out, err = run.communicate(timeout=300)
    finally:
        switch.join()
        stop()
        receiver.stop()
    assert run.returncode in (0, 1) and "Traceback" not in err, err[-3000:]
    store = connect(tmp_path / "journeys-store")
    incidents = store.execute("SELECT epoch(started_at), epoch(ended_at) FROM incidents ORDER BY 1").fetchall()
    assert len(incidents) == 2, (incidents, downs)
    (short_from, short_to), (long_from, long_to) = incidents
    assert short_to - short_from < delay - 2 and long_to - long_from > delay + 2, incidents
    sent = [b["json"]["journeys_alert"] for b in receiver.bodies]
    assert [a["action"] for a in sent] == ["trigger", "resolve"], sent
    trigger, resolve = sent
    assert trigger["kind"] == "outage" and trigger["key"] == resolve["key"]
    assert abs(trigger["started_at"] - long_from) < 1 and abs(resolve["ended_at"] - long_to) < 1
    # The trigger went once the long outage had lasted the delay, not when the breaker first saw it.
    assert long_from + delay - 1 <= trigger["created_at"] < long_to
