"""Stopping well: the first SIGTERM or SIGINT finishes the step under way, runs its journey's
clean-ups, flushes the store and prints the summary; a second stops at once, the store intact,
even when it lands inside a garbage-collector callback or a finalizer."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time

import pytest

from demo_shop import DemoShop, start_in_thread
from engine.cli.stopping import stopping_well
from engine.store import connect
from engine.store.ledger import read_ledger

from .conftest import ROOT


def start_run(tmp_path, url):
    return subprocess.Popen([sys.executable, "-m", "engine.cli", "explore", str(ROOT / "models" / "shop.py"),
                             "--target", url, "--duration", "120s", "--seed", "2", "--no-examples-db"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("which", [signal.SIGTERM, signal.SIGINT])
def test_one_signal_stops_the_run_well(tmp_path, which):
    shop = DemoShop(bugs=False, seed=0)
    url, stop = start_in_thread(shop)
    try:
        run = start_run(tmp_path, url)
        time.sleep(6)
        signalled = time.monotonic()
        run.send_signal(which)
        out, err = run.communicate(timeout=60)
        took = time.monotonic() - signalled
    finally:
        stop()
    assert run.returncode == 130, err[-2000:]  # no failure found before it stopped
    assert took < 15, took
    assert "Traceback" not in err
    assert f"stopped by {which.name}" in out  # the summary's last line says why
    store = connect(tmp_path / "journeys-store")
    status, reason = store.execute("SELECT status, stop_reason FROM runs").fetchone()
    assert status == "interrupted" and reason == f"stopped by {which.name}"
    # Every account the journeys created was deleted by their clean-ups, the last journey's too.
    created = store.execute("SELECT count(*) FROM steps WHERE action = 'sign_up' AND status = 201").fetchone()[0]
    live = [user for user in shop._users.values() if not user.deleted]  # a fixed build forgets deleted ones
    assert created and not live, (created, len(live))
    # The ledger agrees: the run ended, and every clean-up still open was sent (and refused).
    ledger = read_ledger(tmp_path / "journeys-store")
    assert [run.state() for run in ledger.runs.values()] == ["finished"]
    assert all(entry.attempts for entry in ledger.open_entries()), ledger.open_entries()


def test_a_second_signal_stops_at_once_and_the_store_stays_readable(tmp_path):
    url, stop = start_in_thread(DemoShop(bugs=True, seed=0))
    try:
        run = start_run(tmp_path, url)
        time.sleep(6)
        run.send_signal(signal.SIGTERM)
        time.sleep(0.05)
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=60)
    finally:
        stop()
    assert run.returncode in (1, 130), err[-2000:]
    assert "Traceback" not in err
    store = connect(tmp_path / "journeys-store")
    assert store.execute("SELECT count(*) FROM runs").fetchone()[0] == 1
    assert store.execute("SELECT count(*) FROM steps").fetchone()[0] > 0


class StoppingRun:
    """What ``stopping_well`` needs of an explorer: it has been asked to stop once already."""

    stop_reason = "stopped by SIGINT"

    def request_stop(self, reason: str) -> None:
        self.stop_reason = reason


class SignalledWhenCollected:
    """Cyclic garbage whose finalizer receives the signal (as fsspec's files did in the suite)."""

    def __init__(self) -> None:
        self.cycle = self

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        sum(range(10_000))  # the handler runs here, inside the finalizer


@pytest.mark.parametrize("where", ["gc callback", "finalizer"])
def test_a_second_signal_that_lands_in_a_gc_callback_or_a_finalizer_still_stops_the_run(where):
    """Python prints and drops an exception raised in a garbage-collector callback (Hypothesis keeps
    one) or in a ``__del__``, so the second signal's interrupt must land after it, not be lost there."""
    def in_the_collector(phase, info):
        if phase == "start":
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(10_000))  # the handler runs here, inside the callback

    gc.collect()  # the suite's own garbage first: only this test's finalizer or callback gets the signal
    if where == "gc callback":
        gc.callbacks.append(in_the_collector)
    else:
        SignalledWhenCollected()
    try:
        with pytest.raises(KeyboardInterrupt), stopping_well(StoppingRun()):
            gc.collect()
            if in_the_collector in gc.callbacks:
                gc.callbacks.remove(in_the_collector)
            time.sleep(2)  # the deferred interrupt arrives here
    finally:
        if in_the_collector in gc.callbacks:
            gc.callbacks.remove(in_the_collector)
