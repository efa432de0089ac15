"""The store: rows match the run, readers never block writers, crashes lose little, no secrets.

Every test writes a real store folder with real sessions: the CLI in a
subprocess where processes matter (readers, kill -9, concurrent sessions), the
engine in-process where the test needs to see the raw events.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyarrow as pa

from demo_shop import DemoShop
from engine.events import EventBus, StepFinished
from engine.walk.explorer import ExploreSettings, Explorer
from engine.model.loader import load_model
from engine.store import StoreLayout, StoreWriter, connect
from engine.store.layout import SEGMENT_GRACE_S
from engine.store.schema import TABLES
from engine.http.client import DEMO_BASE_URL, Target

from .conftest import ROOT, run_journeys

MODEL = str(ROOT / "models" / "shop.py")
QUIET = ["--no-demo-bugs", "--no-examples-db"]  # no failures: nothing to shrink, the walk runs flat out


def explore_args(store: Path, *extra: str) -> list[str]:
    return ["explore", MODEL, "--target", "demo", "--store", str(store), *QUIET, *extra]


def run_counts(store: Path, run_id: str) -> tuple[int, int]:
    connection = connect(store)
    journeys = connection.execute("SELECT count(*) FROM journeys WHERE run_id = ?", [run_id]).fetchone()[0]
    steps = connection.execute("SELECT count(*) FROM steps WHERE run_id = ?", [run_id]).fetchone()[0]
    return journeys, steps


READER = r"""
import json, pathlib, sys, time
from engine.store import connect
store, stop = sys.argv[1], pathlib.Path(sys.argv[2])
connection = connect(store)  # one connection kept open for the whole session, as a notebook does
counts, errors, queries = [], [], 0
while not stop.exists():
    try:
        steps = connection.execute("SELECT count(*) FROM steps").fetchone()[0]
        journeys = connection.execute("SELECT count(*) FROM journeys").fetchone()[0]
        connection.execute("SELECT * FROM failures").fetchall()
        connection.execute("SELECT action, quantile_cont(latency_ms, 0.95) FROM steps GROUP BY 1").fetchall()
        counts.append((steps, journeys))
    except Exception as error:
        errors.append(repr(error))
    queries += 1
    time.sleep(0.02)
print(json.dumps({"counts": counts, "errors": errors, "queries": queries}))
"""


def test_a_reader_queries_in_a_loop_while_a_session_writes(tmp_path):
    store = tmp_path / "store"
    StoreLayout(store).ensure()
    stop = tmp_path / "stop"
    reader = subprocess.Popen([sys.executable, "-c", READER, str(store), str(stop)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Long enough to span several 2 s flushes: the walk got about four times faster, and a
        # 100-journey session could end before the reader saw a partly written run.
        result = run_journeys(*explore_args(store, "--journeys", "500", "--seed", "5", "--json", "run.json"),
                              cwd=tmp_path)
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=120)
    assert result.returncode == 0, result.stderr
    assert reader.returncode == 0, err
    seen = json.loads(out)
    assert seen["errors"] == []
    report = json.loads((tmp_path / "run.json").read_text())
    journeys, steps = run_counts(store, report["run_id"])
    assert journeys == report["journeys"] + report["shrink_journeys"]
    assert steps == report["steps"] > 0
    step_counts = [c[0] for c in seen["counts"]]
    assert step_counts == sorted(step_counts), "rows went missing between two queries"
    # The reader saw the run grow while it ran, not only before and after it.
    assert any(0 < count < steps for count in step_counts), (len(step_counts), steps)


def wait_for_rows(store: Path, at_least: int, timeout: float = 90) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if StoreLayout(store).is_store():
            count = connect(store).execute("SELECT count(*) FROM steps").fetchone()[0]
            if count >= at_least:
                return count
        time.sleep(0.3)
    raise AssertionError(f"the session wrote fewer than {at_least} steps in {timeout}s")


def test_kill_9_loses_at_most_the_last_flush_and_the_next_session_appends(tmp_path):
    store = tmp_path / "store"
    session = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", *explore_args(store, "--journeys", "100000", "--duration", "5m")],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_rows(store, 1000)
        time.sleep(1.0)
        session.send_signal(signal.SIGKILL)
        killed_at = time.time()
    finally:
        session.kill()
        session.wait(timeout=30)
    connection = connect(store)
    (status,) = connection.execute("SELECT status FROM runs").fetchone()
    assert status == "incomplete"
    before = connection.execute("SELECT count(*) FROM steps").fetchone()[0]
    last = connection.execute("SELECT epoch(max(finished_at)) FROM steps").fetchone()[0]
    assert killed_at - last < 2.0 + 1.5, "more than one flush interval (2 s) of steps was lost"

    again = run_journeys(*explore_args(store, "--journeys", "20", "--seed", "1", "--json", "again.json"),
                         cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    report = json.loads((tmp_path / "again.json").read_text())
    connection = connect(store)
    statuses = sorted(r[0] for r in connection.execute("SELECT status FROM runs").fetchall())
    assert statuses == ["finished", "incomplete"]
    total = connection.execute("SELECT count(*) FROM steps").fetchone()[0]
    assert total == before + report["steps"]


def test_two_sessions_write_to_one_store_at_the_same_time(tmp_path):
    store = tmp_path / "store"
    sessions = [subprocess.Popen(
        [sys.executable, "-m", "engine.cli",
         *explore_args(store, "--journeys", "60", "--seed", str(seed), "--json", f"run{seed}.json")],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    for session in sessions:
        _, err = session.communicate(timeout=600)
        assert session.returncode == 0, err
    connection = connect(store)
    assert connection.execute("SELECT count(*) FROM runs WHERE status = 'finished'").fetchone()[0] == 2
    for seed in (1, 2):
        report = json.loads((tmp_path / f"run{seed}.json").read_text())
        journeys, steps = run_counts(store, report["run_id"])
        assert (journeys, steps) == (report["journeys"] + report["shrink_journeys"], report["steps"])


class SecretCollector:
    """Keeps every password and bearer token the run sent, to look for them in the store."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.public: set[str] = set()  # strings the run also sent as a name, an email...

    def real_secrets(self) -> set[str]:
        """Hypothesis sometimes draws the same string for a name (or an email) and a password:
        such a value is stored as the name, rightly, so only values never drawn or sent in a
        non-secret field count."""
        return {s for s in self.secrets if len(s) >= 10 and len(set(s)) >= 5  # not "00000000"
                and not any(s in public for public in self.public)}

    def handle(self, event) -> None:
        if not isinstance(event, StepFinished):
            return
        self.public |= {v for k, v in event.step.data.items() if isinstance(v, str) and k != "password"}
        for request in event.step.requests:
            self.public |= {request.path, request.template}  # a password drawn from the model's literals
            if isinstance(request.json, dict):
                self.public |= {v for k, v in request.json.items() if isinstance(v, str) and k != "password"}
            authorization = request.headers.get("Authorization", "")
            if authorization.startswith("Bearer "):
                self.secrets.add(authorization.removeprefix("Bearer "))
            if isinstance(request.json, dict) and request.json.get("password"):
                self.secrets.add(request.json["password"])
            if isinstance(request.response_json, dict) and request.response_json.get("token"):
                self.secrets.add(request.response_json["token"])


def test_no_password_or_token_reaches_the_store(tmp_path):
    store = tmp_path / "store"
    # One seeded bug (a deleted account can still log in), so the store also holds a
    # failure's reproduction: the place where a password would most likely leak.
    shop = DemoShop(bugs={"login_after_deletion"}, seed=1)
    client = httpx.Client(transport=httpx.WSGITransport(app=shop), base_url=DEMO_BASE_URL)
    target = Target(client=client, label="demo (in-process)", base_url=DEMO_BASE_URL, in_process=True)
    collector = SecretCollector()
    writer = StoreWriter(store)
    bus = EventBus([collector, writer])
    finished = Explorer(load_model(MODEL), target, bus,
                        ExploreSettings(journeys=200, max_steps=8, seed=2, database=None, replays=2)).run()
    bus.close()
    assert [f.fingerprint.action for f in finished.failures] == ["log_in_to_deleted_account"]
    secrets = collector.real_secrets()
    assert len(secrets) > 10
    connection = connect(store)
    (reproduction,) = connection.execute("SELECT reproduction FROM failures").fetchone()
    assert '"password": "***"' in reproduction
    assert '"passed": false' in reproduction  # masking keeps what is not a secret
    leaks = []
    for table, schema in TABLES.items():
        texts = [f.name for f in schema if f.type == pa.string()]
        for row in connection.execute(f"SELECT {', '.join(texts)} FROM {table}").fetchall():
            for value in row:
                for text in _texts(value):
                    leaks += [(table, secret, text) for secret in secrets if secret in text]
    assert leaks == []


def _texts(value):
    """The strings a cell holds; for JSON, its values and not its keys.

    Hypothesis mines string constants from the code under test, so a drawn password can
    be "tool_version", which is also a key of every stored reproduction.
    """
    if not value:
        return []
    try:
        parsed = json.loads(value)
    except ValueError:
        return [value]
    if not isinstance(parsed, (dict, list)):
        return [value]
    leaves = []

    def walk(item):
        if isinstance(item, str):
            leaves.append(item)
        elif isinstance(item, dict):
            for inner in item.values():
                walk(inner)
        elif isinstance(item, list):
            for inner in item:
                walk(inner)

    walk(parsed)
    return leaves


def test_segments_are_merged_as_they_pile_up_and_each_row_is_read_once(tmp_path):
    store = tmp_path / "store"
    writer = StoreWriter(store, flush_interval=3600)  # flushed by hand below
    layout = writer.layout
    for journey in range(1, 101):
        writer.handle(_journey_finished(journey))
        writer.flush()
    live = layout.live_files("journeys", "run1")
    assert 1 < len(live) < 10, live  # 100 flushes: 3 files of 32 merged, 4 still single
    assert connect(store).execute("SELECT count(*), count(DISTINCT journey) FROM journeys").fetchone() == (100, 100)
    writer._run_id = "run1"
    writer.close()
    assert len(layout.live_files("journeys", "run1")) == 1
    assert connect(store).execute("SELECT count(*) FROM journeys").fetchone()[0] == 100
    files = len(layout.data_files("journeys"))
    assert layout.collect_garbage() == 0  # covered files stay while a reader may still be on them
    assert layout.collect_garbage(now=time.time() + SEGMENT_GRACE_S + 1) == files - 1
    assert connect(store).execute("SELECT count(*) FROM journeys").fetchone()[0] == 100


def _journey_finished(journey: int):
    from engine.events import JourneyFinished

    return JourneyFinished(run_id="run1", journey=journey, phase="explore", steps=3, outcome="passed",
                           duration_ms=1.0)


def test_sql_and_report_commands(tmp_path):
    store = tmp_path / "store"
    result = run_journeys(*explore_args(store, "--journeys", "30", "--seed", "4"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    sql = run_journeys("sql", "SELECT count(*) AS n FROM runs", "--store", str(store), cwd=tmp_path)
    assert sql.returncode == 0 and "│ 1 " in sql.stdout, sql.stdout + sql.stderr
    bad = run_journeys("sql", "SELECT nope FROM runs", "--store", str(store), cwd=tmp_path)
    assert bad.returncode == 2 and "query failed" in bad.stderr and "Traceback" not in bad.stderr
    missing = run_journeys("report", "--store", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.returncode == 2 and "no journeys store" in missing.stderr
    report = run_journeys("report", "--store", str(store), "--since", "1d", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    assert "1 run(s)" in report.stdout and "Slowest actions" in report.stdout
    said = " ".join(report.stdout.split())
    assert "Coverage of shop:" in said and "edges walked" in said and "edge pairs" in said and "lifecycle" in said


def test_wide_merges_run_in_a_child_process_and_every_row_is_still_read_once(tmp_path, monkeypatch):
    """With a fan-out of 4, 20 flushes make five first-level merges here and one second-level merge,
    which runs in a child process (engine.store.merge_apart): the writer never merges those files."""
    from engine.store import layout as layout_module

    monkeypatch.setattr(layout_module, "FANOUT", 4)
    merged_here = []
    merge = layout_module.StoreLayout.merge
    monkeypatch.setattr(layout_module.StoreLayout, "merge", lambda self, table, files: (
        merged_here.append((table, min(f.lo for f in files), max(f.hi for f in files))), merge(self, table, files))[1])
    store = tmp_path / "store"
    writer = StoreWriter(store, flush_interval=3600)
    for journey in range(1, 21):
        writer.handle(_journey_finished(journey))
        writer.flush()
    live = writer.layout.live_files("journeys", "run1")
    assert [(f.lo, f.hi) for f in live] == [(1, 16), (17, 20)], live  # the wide one covers the first 16
    assert ("journeys", 1, 16) not in merged_here  # made by the child...
    assert [hi - lo + 1 for _, lo, hi in merged_here] == [4] * 5  # ...the first-level ones here
    assert connect(store).execute("SELECT count(*), count(DISTINCT journey) FROM journeys").fetchone() == (20, 20)
