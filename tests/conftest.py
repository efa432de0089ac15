"""Shared fixtures: the CLI as a subprocess, and demo shops served on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


class Notices:
    """An event subscriber keeping every notice's message."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def handle(self, event) -> None:
        from engine.events import Notice

        if isinstance(event, Notice):
            self.messages.append(event.message)


def run_journeys(*args: str, cwd: Path | None = None, timeout: float = 900, env_extra: dict | None = None,
                 env_remove: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in env_remove}
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=timeout, env={**env, **(env_extra or {}), "COLUMNS": "200"})


def run_reproduction(path: Path, app) -> subprocess.CompletedProcess:
    """A written pytest reproduction run against ``app``, served afresh on 127.0.0.1."""
    from demo_shop import start_in_thread

    url, stop = start_in_thread(app)
    try:
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
                              capture_output=True, text=True, timeout=120, cwd=path.parent,
                              env={"JOURNEYS_TARGET": url, "PATH": "/usr/bin:/bin"})
    finally:
        stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServedDemo:
    """`journeys demo serve` in a subprocess, as a user would start it."""

    def __init__(self, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "demo", "serve", "--port", str(self.port), *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/healthz", timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"demo did not start on {self.url}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="session")
def demo_with_bugs():
    served = ServedDemo()
    yield served
    served.stop()


@pytest.fixture(scope="session")
def demo_fixed():
    served = ServedDemo("--no-bugs")
    yield served
    served.stop()


EXPLORATION_SEED = "7"


@pytest.fixture(scope="session")
def exploration(tmp_path_factory):
    """The main job, run once for the whole suite: the CLI exploring the demo, default budget.

    Returns (working folder, completed process, the --json report). The folder also
    holds the run's store (``journeys-store``), reproductions and example database.
    """
    workdir = tmp_path_factory.mktemp("explore")
    result = run_journeys("explore", str(ROOT / "models" / "shop.py"), "--target", "demo",
                          "--seed", EXPLORATION_SEED, "--json", "report.json", cwd=workdir)
    report = json.loads((workdir / "report.json").read_text(encoding="utf-8"))
    return workdir, result, report


class ObjectStore:
    """A real S3-compatible server on 127.0.0.1 (moto's server mode), as ``AWS_*`` settings name it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.env = {"AWS_ACCESS_KEY_ID": "journeys-test", "AWS_SECRET_ACCESS_KEY": "journeys-test-secret",
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.port}"}
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(self.env["AWS_ENDPOINT_URL"], timeout=1)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        pytest.fail("moto's S3 server did not start on 127.0.0.1")

    def filesystem(self):
        import s3fs

        return s3fs.S3FileSystem(key=self.env["AWS_ACCESS_KEY_ID"], secret=self.env["AWS_SECRET_ACCESS_KEY"],
                                 endpoint_url=self.env["AWS_ENDPOINT_URL"], use_listings_cache=False,
                                 skip_instance_cache=True)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="session")
def object_store():
    """The server, with this session's environment pointing at it (so ``connect("s3://...")`` and
    every ``journeys`` subprocess find it)."""
    server = ObjectStore()
    saved = {key: os.environ.get(key) for key in server.env}
    os.environ.update(server.env)
    yield server
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    server.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("these tests need redis-server (Debian: apt-get install redis-server; .ci/run installs it)")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                               "no", "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0", client
    server.terminate()
    server.wait(timeout=10)
