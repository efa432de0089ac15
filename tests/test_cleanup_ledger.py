"""The clean-up ledger survives a ``kill -9``, and ``journeys cleanup`` removes what the dead run left.

On two targets shaped differently: the demo shop (its operator signs in with a bearer token; the
account a journey signs up is in the ledger by ``step.created``) and the test library (its librarian
sends an ``X-Librarian-Key`` header; books are registered clean-ups). Each is asked afterwards,
over HTTP or from its own state, whether anything the ledger recorded is still there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest

from demo_shop import DemoShop, start_in_thread
from engine.store.ledger import ledger_dir, read_ledger
from engine.store.remote import RemoteStore

from .conftest import ROOT, run_journeys
from .library_app import Library

OPERATOR_TOKEN = "op-7f3a9c-not-for-logs"
LIBRARIAN_KEY = "lib-2b8d1e-not-for-logs"


class Watched:
    """A WSGI app with every request counted and every token it hands out noted."""

    def __init__(self, app) -> None:
        self.app, self.requests, self.tokens, self.lock = app, 0, set(), threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.requests += 1
        body = b"".join(self.app(environ, start_response))
        try:
            answer = json.loads(body) if body else None
        except ValueError:
            answer = None
        if isinstance(answer, dict) and isinstance(answer.get("token"), str):
            with self.lock:
                self.tokens.add(answer["token"])
        return [body]


def shop_target():
    shop = DemoShop(bugs=False, seed=0, operator_token=OPERATOR_TOKEN)

    def remaining(url: str, paths: set[str]) -> set[str]:
        inventory = httpx.get(f"{url}/api/operator/inventory",
                              headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}).json()
        live = {f"/api/users/{u}" for u in inventory["users"]} | {f"/api/reviews/{r}" for r in inventory["reviews"]}
        return paths & live

    return shop, ROOT / "models" / "shop.py", {"SHOP_OPERATOR_TOKEN": OPERATOR_TOKEN}, remaining


def library_target():
    library = Library(bugs=(), librarian_key=LIBRARIAN_KEY)

    def remaining(url: str, paths: set[str]) -> set[str]:
        return paths & {f"/api/books/{book}" for book in library.books}

    return library, ROOT / "tests" / "library_model.py", {"LIBRARY_LIBRARIAN_KEY": LIBRARIAN_KEY}, remaining


def kill_mid_journey(model, url, store, env, *extra, present=None):
    """Start a continuous run and ``kill -9`` it while the ledger has open entries (with ``present``,
    while some open entry's data is on the target: an entry whose clean-up was refused and then
    answered 404 stays open although its account's deletion took the data with it)."""
    run = subprocess.Popen([sys.executable, "-m", "engine.cli", "explore", str(model), "--target", url,
                            "--forever", "--rate", "40/s", "--no-examples-db", "--store", str(store), *extra],
                           cwd=store.parent, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if (ledger_dir(store).is_dir() and len(read_ledger(store).entries) >= 6
                    and len(read_ledger(store).open_entries()) >= 2
                    and (present is None or present(url, {e.path for e in read_ledger(store).open_entries()}))):
                break
        else:
            pytest.fail("the run registered no clean-ups in 90 s: " + run.stderr.read1().decode()[-2000:])
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
        run.stderr.close()


@pytest.mark.parametrize("make_target", [shop_target, library_target], ids=["shop", "library"])
def test_cleanup_removes_what_a_killed_run_left_and_a_second_sweep_does_nothing(tmp_path, make_target):
    app, model, secrets, remaining = make_target()
    watched = Watched(app)
    url, stop = start_in_thread(watched)
    store = tmp_path / "journeys-store"
    env_without_secrets = {k: v for k, v in os.environ.items() if k not in secrets}
    try:
        kill_mid_journey(model, url, store, env_without_secrets, present=remaining)
        ledger = read_ledger(store)
        left = ledger.open_entries()
        assert left, "the kill came between journeys; nothing was open"
        assert {ledger.runs[e.run_id].state() for e in left} == {"crashed"}
        recorded = {entry.path for entry in ledger.entries.values()}
        assert remaining(url, {entry.path for entry in left}), "the open entries' data is on the target"

        swept = run_journeys("cleanup", "--all", "--store", str(store), cwd=tmp_path,
                             env_extra=secrets)
        assert swept.returncode == 0, swept.stdout + swept.stderr
        assert "not removed 0" in swept.stdout and "removed" in swept.stdout
        # Everything the ledger recorded (open or not) is gone from the target.
        assert remaining(url, recorded) == set()
        assert read_ledger(store).open_entries() == []

        before = watched.requests
        again = run_journeys("cleanup", "--all", "--store", str(store), cwd=tmp_path, env_extra=secrets)
        assert again.returncode == 0 and "nothing left to clean up" in again.stdout, again.stdout + again.stderr
        assert watched.requests == before  # not one request
    finally:
        stop()
    # No secret in the ledger: not the operator's key, not one token the target handed out.
    text = "".join(path.read_text() for path in ledger_dir(store).glob("*.jsonl"))
    assert watched.tokens and not any(token in text for token in watched.tokens)
    assert not any(value in text for value in secrets.values())
    assert "password" not in text


def test_without_the_credential_the_sweep_says_why_and_keeps_the_entries_open(tmp_path):
    app, model, secrets, remaining = library_target()
    url, stop = start_in_thread(app)
    store = tmp_path / "journeys-store"
    env = {k: v for k, v in os.environ.items() if k not in secrets}
    try:
        kill_mid_journey(model, url, store, env)
        left = read_ledger(store).open_entries()
        swept = run_journeys("cleanup", "--all", "--store", str(store), cwd=tmp_path, env_remove=tuple(secrets))
    finally:
        stop()
    assert swept.returncode == 1, swept.stdout + swept.stderr
    assert "LIBRARY_LIBRARIAN_KEY is not set" in swept.stdout
    assert f"not removed {len(left)}" in swept.stdout
    assert {e.id for e in read_ledger(store).open_entries()} == {e.id for e in left}


def test_cleanup_names_the_runs_when_not_told_which(tmp_path):
    store = tmp_path / "journeys-store"
    result = run_journeys("cleanup", "--store", str(store), cwd=tmp_path)
    assert result.returncode == 2 and "--run ID or --all" in result.stderr
    result = run_journeys("cleanup", "--run", "nosuchrun", "--store", str(store), cwd=tmp_path)
    assert result.returncode == 2 and "no run nosuchrun" in result.stderr


def test_a_pod_that_died_with_its_volume_is_swept_from_the_bucket(tmp_path, object_store):
    """The run mirrored its store to a bucket and was killed; its local folder is gone with the pod.
    `journeys cleanup --store s3://...` from another folder removes what the bucket's ledger recorded,
    and a second sweep from a third folder sends nothing."""
    app, model, secrets, remaining = shop_target()
    watched = Watched(app)
    url, stop = start_in_thread(watched)
    bucket = f"pods-{uuid.uuid4().hex[:8]}"
    object_store.filesystem().mkdir(bucket)
    shared = f"s3://{bucket}/store"
    pod = tmp_path / "pod"
    pod.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in secrets}
    try:
        run = subprocess.Popen([sys.executable, "-m", "engine.cli", "explore", str(model), "--target", url,
                                "--forever", "--rate", "40/s", "--no-examples-db", "--mirror", shared],
                               cwd=pod, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 90
        try:  # killed once the bucket's copy of the ledger has entries open whose data is on the target
            while not remaining(url, {e.path for e in RemoteStore(shared).ledger().open_entries()}):
                assert time.monotonic() < deadline, run.stderr.read1().decode()[-2000:]
                time.sleep(0.5)
        finally:
            run.send_signal(signal.SIGKILL)
            run.wait(timeout=30)
            run.stderr.close()
        shutil.rmtree(pod)  # the volume went with the pod
        ledger = RemoteStore(shared).ledger()
        recorded = {entry.path for entry in ledger.entries.values()}
        assert remaining(url, recorded)
        for folder in ("elsewhere", "third"):
            (tmp_path / folder).mkdir()
        swept = run_journeys("cleanup", str(model), "--all", "--store", shared, cwd=tmp_path / "elsewhere",
                             env_extra=secrets)
        assert swept.returncode == 0 and "not removed 0" in swept.stdout, swept.stdout + swept.stderr
        assert remaining(url, recorded) == set()  # everything the bucket's ledger recorded is gone
        before = watched.requests
        again = run_journeys("cleanup", str(model), "--all", "--store", shared, cwd=tmp_path / "third",
                             env_extra=secrets)
        assert again.returncode == 0 and "nothing left to clean up" in again.stdout, again.stdout + again.stderr
        assert watched.requests == before
    finally:
        stop()
