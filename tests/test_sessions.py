"""Each actor is a separate person: its own cookie jar and its own credentials, for the walk,
its clean-ups and the reproductions. The demo keeps sessions in a cookie too, and takes HTTP
Basic; tests/shop_sessions_model.py never sends a bearer token."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys

import pytest

from demo_shop import DemoShop, start_in_thread
from engine.store import connect

from .conftest import ROOT, run_reproduction

MODEL = ROOT / "tests" / "shop_sessions_model.py"
BUG = "order_owner_check"
VISIBILITY = "an order is visible to its owner only"


def explore(tmp_path, auth: str, seed: str) -> tuple[subprocess.CompletedProcess, dict]:
    url, stop = start_in_thread(DemoShop(bugs=[BUG], seed=int(seed)))
    try:
        result = subprocess.run(
            [sys.executable, "-m", "engine.cli", "explore", str(MODEL), "--target", url, "--seed", seed,
             "--journeys", "80", "--max-steps", "12", "--no-examples-db", "--json", "report.json"],
            capture_output=True, text=True, cwd=tmp_path, timeout=600,
            env={**os.environ, "JOURNEYS_TEST_AUTH": auth, "COLUMNS": "200"})
    finally:
        stop()
    return result, json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))


def credential(value: str) -> bool:
    """Is this the base64 of ``user:password``?"""
    try:
        return ":" in base64.b64decode(value, validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return False


def run_file(path, bugs) -> subprocess.CompletedProcess:
    return run_reproduction(path, DemoShop(bugs=bugs))


@pytest.mark.parametrize("auth, seed", [("cookie", "1"), ("cookie", "2"), ("basic", "1"), ("basic", "2")])
def test_two_actors_keep_their_own_sessions_and_the_visibility_bug_is_found(tmp_path, auth, seed):
    result, report = explore(tmp_path, auth, seed)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    checks = {f["fingerprint"]["check"]: f for f in report["failures"]}
    # A shared jar would make "the session is the actor's own" fail, and hide the bug.
    assert set(checks) == {VISIBILITY}, list(checks)
    failure = checks[VISIBILITY]
    assert failure["kind"] == "regression"
    store = connect(tmp_path / "journeys-store")
    cleanups = store.execute("SELECT count(*), count(*) FILTER (WHERE cleaned) FROM cleanups").fetchone()
    assert cleanups[0] > 10 and cleanups[0] == cleanups[1]  # every account deleted, as its own actor
    # The reproduction signs in on a fresh instance (it rebuilds Basic from the run's own values).
    (path,) = (tmp_path / "reproductions").glob(f"test_*_{failure['id']}.py")
    source = path.read_text(encoding="utf-8")
    assert run_file(path, [BUG]).returncode == 1
    assert run_file(path, []).returncode == 0
    # No credential is written down: no Basic header's base64, no password, in the file or the store.
    dumped = source + json.dumps(store.execute("SELECT * FROM failures_found").fetchall(), default=str) \
        + json.dumps(store.execute("SELECT * FROM steps").fetchall(), default=str)
    assert not [value for value in re.findall(r"Basic\s+([A-Za-z0-9+/=]{8,})", dumped) if credential(value)]
    if auth == "basic":
        assert "basic(" in source and "JOURNEYS_SECRET_PASSWORD" in source


def test_the_curl_export_keeps_each_actors_cookies(tmp_path):
    result, report = explore(tmp_path, "cookie", "3")
    assert result.returncode == 1, result.stderr[-3000:]
    failure = next(f for f in report["failures"] if f["fingerprint"]["check"] == VISIBILITY)
    script = tmp_path / "reproduce.sh"
    exported = subprocess.run([sys.executable, "-m", "engine.cli", "export", failure["id"], "--format", "curl",
                               "-o", str(script)], capture_output=True, text=True, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    url, stop = start_in_thread(DemoShop(bugs=[BUG]))
    try:
        ran = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120,
                             env={"JOURNEYS_TARGET": url, "PATH": "/usr/bin:/bin"})
    finally:
        stop()
    assert ran.returncode == 1 and "REPRODUCED" in ran.stdout, ran.stdout + ran.stderr
    assert '-b "$T/session_0_alice"' in script.read_text() or '-b "$T/session_0_bob"' in script.read_text()
