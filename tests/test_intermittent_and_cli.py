"""Intermittent failures stay intermittent; exit codes and one-line errors of the CLI."""

from __future__ import annotations

import httpx

from demo_shop import DemoShop
from engine.events import EventBus, FailureFound
from engine.walk.explorer import ExploreSettings, Explorer
from engine.model.loader import load_model
from engine.http.client import DEMO_BASE_URL, Target

from .conftest import ROOT, run_journeys


class Collect:
    def __init__(self):
        self.failures = []

    def handle(self, event):
        if isinstance(event, FailureFound):
            self.failures.append(event.failure)


def test_a_frequent_503_is_reported_as_intermittent_and_the_run_goes_on():
    shop = DemoShop(bugs={"checkout_flaky_503"}, seed=3, flaky_rate=0.3)
    client = httpx.Client(transport=httpx.WSGITransport(app=shop), base_url=DEMO_BASE_URL)
    target = Target(client=client, label="demo", base_url=DEMO_BASE_URL, in_process=True)
    collect = Collect()
    finished = Explorer(load_model(str(ROOT / "models" / "shop.py")), target, EventBus([collect]),
                        ExploreSettings(journeys=60, seed=3, database=None)).run()
    assert finished.failures, "a 30% 503 rate on checkout should be met in 60 journeys"
    for failure in finished.failures:
        assert failure.fingerprint.action == "checkout" and failure.fingerprint.status == "5xx"
        assert failure.kind == "intermittent"
        assert failure.replays_failed < failure.replays_run
    assert finished.journeys == 60


def test_fixed_demo_exits_0(tmp_path):
    result = run_journeys("explore", str(ROOT / "models" / "shop.py"), "--target", "demo", "--no-demo-bugs",
                          "--journeys", "40", "--seed", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no failures found" in result.stdout
    assert not (tmp_path / "reproductions").exists()


def test_bad_flags_are_usage_errors(tmp_path):
    for args in (["--journeys", "0"], ["--duration", "soon"], ["--bogus"]):
        result = run_journeys("explore", "models/shop.py", "--target", "demo", *args, cwd=ROOT)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr


def test_unreachable_target_is_one_line_exit_2():
    result = run_journeys("explore", "models/shop.py", "--target", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert "unreachable" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_non_http_target_is_a_configuration_error():
    result = run_journeys("explore", "models/shop.py", "--target", "ftp://example")
    assert result.returncode == 2 and "neither 'demo' nor an http(s) URL" in result.stderr
