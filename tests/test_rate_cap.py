"""One rate cap on every request: measured on the server's side, on both targets, while the run
also shrinks and replays the failures it finds."""

from __future__ import annotations

import bisect
import threading
import time

import pytest

from demo_shop import DemoShop, start_in_thread
from engine.http.rate import parse_rate
from engine.errors import ConfigError
from engine.store import connect

from .conftest import ROOT, run_journeys
from .library_app import Library

CAP = 20


class Clocked:
    """A WSGI wrapper that notes when each request arrived, on the server's (wall) clock."""

    def __init__(self, app) -> None:
        self.app = app
        self.arrivals: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.arrivals.append(time.time())  # wall clock: schedules are in it
        return self.app(environ, start_response)


def most_in_any_second(arrivals: list[float]) -> int:
    times = sorted(arrivals)
    return max(bisect.bisect_left(times, start + 1.0) - i for i, start in enumerate(times))


TARGETS = {
    "demo shop": (lambda: DemoShop(bugs=True, seed=0), ROOT / "models" / "shop.py"),
    "library": (Library, ROOT / "tests" / "library_model.py"),
}


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_the_server_never_sees_more_than_the_cap_in_any_second(tmp_path, name):
    make_app, model = TARGETS[name]
    clocked = Clocked(make_app())
    url, stop = start_in_thread(clocked)
    try:
        result = run_journeys("explore", str(model), "--target", url, "--rate", f"{CAP}/s", "--duration", "12s",
                              "--seed", "5", "--no-examples-db", cwd=tmp_path)
    finally:
        stop()
    assert result.returncode in (0, 1), result.stderr[-2000:]
    assert len(clocked.arrivals) > 8 * CAP  # the run was long enough to say something
    assert most_in_any_second(clocked.arrivals) <= CAP
    span = max(clocked.arrivals) - min(clocked.arrivals)
    assert len(clocked.arrivals) / span > 0.6 * CAP  # the cap, not the target, set the pace
    store = connect(tmp_path / "journeys-store")
    phases = dict(store.execute("SELECT phase, count(*) FROM journeys GROUP BY phase").fetchall())
    waited, latency = store.execute("SELECT sum(rate_wait_ms), sum(latency_ms) FROM steps").fetchone()
    assert phases.get("explore") and set(phases) - {"explore"}, phases  # it shrank or replayed too
    assert waited > 0 and latency >= 0


def test_without_a_cap_the_same_run_goes_faster_than_the_cap(tmp_path):
    """The measurement above could fail: uncapped, the demo sees far more than the cap."""
    clocked = Clocked(DemoShop(bugs=True, seed=0))
    url, stop = start_in_thread(clocked)
    try:
        result = run_journeys("explore", str(ROOT / "models" / "shop.py"), "--target", url, "--duration", "4s",
                              "--seed", "5", "--no-examples-db", "--no-store", cwd=tmp_path)
    finally:
        stop()
    assert result.returncode in (0, 1), result.stderr[-2000:]
    assert most_in_any_second(clocked.arrivals) > 3 * CAP


@pytest.mark.parametrize("text, per_second", [("5/s", 5), ("300/min", 5), ("1/10s", 0.1), ("0.5/s", 0.5),
                                               ("7200/h", 2), ("3 / 2 minutes", 0.025)])
def test_rates_are_read_as_requests_per_unit(text, per_second):
    assert parse_rate(text).per_second == pytest.approx(per_second)


def test_a_bad_rate_is_a_usage_error(tmp_path):
    with pytest.raises(ConfigError):
        parse_rate("5 per second")
    bad = run_journeys("explore", str(ROOT / "models" / "shop.py"), "--target", "demo", "--rate", "0/s",
                       cwd=tmp_path)
    assert bad.returncode == 2 and "--rate" in bad.stderr and "Traceback" not in bad.stderr


def test_a_schedule_changes_the_rate_and_a_pause_window_sends_nothing(tmp_path):
    """Windows a few seconds long, from now, in UTC: 4/s, then a pause, then --rate 40/s."""
    from datetime import datetime, timedelta, timezone

    clocked = Clocked(DemoShop(bugs=True, seed=0))
    url, stop = start_in_thread(clocked)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    pause_from, pause_until = now + timedelta(seconds=8), now + timedelta(seconds=13)
    slow = f"* {now - timedelta(seconds=10):%H:%M:%S}-{pause_from:%H:%M:%S} 4/s"
    pause = f"* {pause_from:%H:%M:%S}-{pause_until:%H:%M:%S} pause"
    try:
        result = run_journeys("explore", str(ROOT / "models" / "shop.py"), "--target", url, "--seed", "5",
                              "--rate", "40/s", "--schedule", slow, "--schedule", pause,
                              "--duration", "20s", "--no-examples-db", "--no-store", cwd=tmp_path)
    finally:
        stop()
    assert result.returncode in (0, 1), result.stderr[-2000:]
    edge_pause, edge_fast = pause_from.timestamp(), pause_until.timestamp()
    slow_part = [a for a in clocked.arrivals if a < edge_pause - 0.2]
    paused = [a for a in clocked.arrivals if edge_pause + 0.2 < a < edge_fast - 0.2]
    fast_part = [a for a in clocked.arrivals if a > edge_fast + 0.5]
    assert not paused, f"{len(paused)} requests during the pause"
    assert len(slow_part) >= 8 and most_in_any_second(slow_part) <= 4
    assert fast_part and most_in_any_second(fast_part) > 10, most_in_any_second(fast_part)
    assert "paused" in result.stdout and "schedule:" in result.stdout


def test_a_bad_window_is_a_usage_error(tmp_path):
    bad = run_journeys("explore", str(ROOT / "models" / "shop.py"), "--target", "demo",
                       "--schedule", "weekdays 8-20 2/s", cwd=tmp_path)
    assert bad.returncode == 2 and "--schedule" in bad.stderr and "Traceback" not in bad.stderr
    zone = run_journeys("explore", str(ROOT / "models" / "shop.py"), "--target", "demo", "--timezone", "Mars/Base",
                        cwd=tmp_path)
    assert zone.returncode == 2 and "--timezone" in zone.stderr
