"""``explore --shard I/N --group NAME``: pieces of one run started by a scheduler. On one machine they
share the store's folder; on several, a real Redis (redis-server on 127.0.0.1, started here) holds
the cap and the claims, and a real S3-compatible server (moto's, on 127.0.0.1) the one store they
mirror to. Each piece here has a store of its own, as on machines of their own, so only Redis can
keep them to one cap and one report per failure, and only the bucket holds all their rows."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from demo_shop import DemoShop, start_in_thread
from engine.store import connect

from .conftest import ROOT, run_journeys
from .library_app import Library
from .test_rate_cap import Clocked, most_in_any_second

TARGETS = {
    "demo shop": (lambda: DemoShop(bugs=True, seed=0), ROOT / "models" / "shop.py"),
    "library": (Library, ROOT / "tests" / "library_model.py"),
}


def start_shard(cwd, model, url, index, *args, examples=False):
    cwd.mkdir(exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "engine.cli", "explore", str(model), "--target", url,
                             "--shard", f"{index}/2", *args, *([] if examples else ["--no-examples-db"]),
                             "--json", "r.json"],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_shards_on_two_machines_report_each_failure_once_through_redis_into_one_bucket(tmp_path, redis_url,
                                                                                      object_store, name):
    url_of_redis, client = redis_url
    make_app, model = TARGETS[name]
    url, stop = start_in_thread(make_app())
    group = f"job-{name.replace(' ', '-')}"
    object_store.filesystem().mkdir(group)
    bucket = f"s3://{group}/journeys-store"
    try:
        shards = [start_shard(tmp_path / f"machine{i}", model, url, i, "--group", group, "--redis", url_of_redis,
                              "--journeys", "120", "--seed", "3", "--mirror", bucket, examples=True) for i in (1, 2)]
        outputs = [shard.communicate(timeout=600) for shard in shards]
    finally:
        stop()
    for shard, (out, err) in zip(shards, outputs):
        assert shard.returncode in (0, 1), out[-2000:] + err[-2000:]
        assert "Traceback" not in err
    reports = [json.loads((tmp_path / f"machine{i}" / "r.json").read_text()) for i in (1, 2)]
    assert [r["journeys"] for r in reports] == [60, 60] and [r["seed"] for r in reports] == [3, 4]
    reported = [f["id"] for r in reports for f in r["failures"]]
    assert reported and len(reported) == len(set(reported)), reported  # one report per failure, across machines
    assert client.keys(f"journeys:claim:{group}:*")  # the claims were Redis's, and so is the example database:
    model_name = "shop" if name == "demo shop" else "library"
    assert client.keys(f"journeys:examples:journeys:{model_name}:round*")
    assert not any((tmp_path / f"machine{i}" / ".journeys").exists() for i in (1, 2))
    said = " ".join(" ".join(out.split()) for out, _ in outputs)
    assert "another worker is investigating it" in said
    for i, report in zip((1, 2), reports):
        store = connect(tmp_path / f"machine{i}" / "journeys-store")
        settings = json.loads(store.execute("SELECT settings FROM runs_started").fetchone()[0])
        assert settings["worker"] == f"{i}/2" and settings["group"] == group
    # One store for analysts: the bucket holds every row of both machines' stores, each once...
    locals_ = [connect(tmp_path / f"machine{i}" / "journeys-store") for i in (1, 2)]
    shared = connect(bucket)
    for table in ("journeys", "steps", "failures_found", "cleanups"):
        query = f"SELECT run_id, count(*) FROM {table} GROUP BY run_id"
        expected = sorted(row for store in locals_ for row in store.execute(query).fetchall())
        assert sorted(shared.execute(query).fetchall()) == expected, table
    assert len({run for run, _ in expected}) == 2
    # ...a bug both machines met is one failure with both runs' occurrences, and report merges them.
    failures = dict(shared.execute("SELECT fingerprint, runs FROM failures").fetchall())
    assert len(failures) == len(reported) and max(failures.values()) == 2, failures
    report = run_journeys("report", "--store", bucket, cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    for failure_id in reported:
        assert " ".join(report.stdout.split()).count(failure_id) == 1, (failure_id, report.stdout[-3000:])


def test_shards_keep_to_one_cap_through_redis(tmp_path, redis_url):
    url_of_redis, client = redis_url
    clocked = Clocked(DemoShop(bugs=True, seed=0))
    url, stop = start_in_thread(clocked)
    try:
        shards = [start_shard(tmp_path / f"machine{i}", ROOT / "models" / "shop.py", url, i, "--group", "capped",
                              "--redis", url_of_redis, "--rate", "20/s", "--duration", "12s", "--seed", "5")
                  for i in (1, 2)]
        outputs = [shard.communicate(timeout=300) for shard in shards]
    finally:
        stop()
    assert all(shard.returncode in (0, 1) for shard in shards), [err[-2000:] for _, err in outputs]
    reports = [json.loads((tmp_path / f"machine{i}" / "r.json").read_text()) for i in (1, 2)]
    assert all(r["steps"] > 0 for r in reports)
    assert len(clocked.arrivals) > 8 * 20
    assert most_in_any_second(clocked.arrivals) <= 20
    assert client.keys("journeys:rate:capped*")


def test_shards_on_one_machine_share_the_store_and_report_merges_them(tmp_path):
    url, stop = start_in_thread(Library())
    try:
        shards = [subprocess.Popen([sys.executable, "-m", "engine.cli", "explore",
                                    str(ROOT / "tests" / "library_model.py"), "--target", url, "--shard", f"{i}/2",
                                    "--group", "nightly", "--journeys", "80", "--seed", "2", "--no-examples-db",
                                    "--json", f"r{i}.json"], cwd=tmp_path, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True) for i in (1, 2)]
        outputs = [shard.communicate(timeout=600) for shard in shards]
    finally:
        stop()
    assert all(shard.returncode in (0, 1) for shard in shards), [err[-2000:] for _, err in outputs]
    reported = [f["id"] for i in (1, 2) for f in json.loads((tmp_path / f"r{i}.json").read_text())["failures"]]
    assert reported and len(reported) == len(set(reported))
    store = connect(tmp_path / "journeys-store")
    assert store.execute("SELECT count(DISTINCT run_id) FROM journeys").fetchone()[0] == 2
    report = run_journeys("report", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    for failure_id in reported:
        assert " ".join(report.stdout.split()).count(failure_id) == 1, (failure_id, report.stdout[-3000:])


def test_a_shard_needs_its_group_and_a_well_formed_index(tmp_path):
    for args, words in ((["--shard", "1/2"], "--group"), (["--shard", "3/2", "--group", "g"], "1 <= I <= N"),
                        (["--group", "g"], "--shard"), (["--shard", "1/2", "--group", "g", "--redis", "nope"],
                                                        "redis://")):
        result = run_journeys("explore", str(ROOT / "models" / "shop.py"), "--target", "demo", *args, cwd=tmp_path)
        assert result.returncode == 2 and words in result.stderr, (args, result.stderr)


def test_shards_with_workers_each_are_pieces_of_one_run(tmp_path, redis_url):
    """``--shard I/2 --workers 2`` on two "machines": four walkers under one cap in Redis, seeds of
    their own, each failure reported once across all four, and each run labelled as its piece."""
    url_of_redis, client = redis_url
    clocked = Clocked(Library())
    url, stop = start_in_thread(clocked)
    try:
        shards = [start_shard(tmp_path / f"machine{i}", ROOT / "tests" / "library_model.py", url, i,
                              "--workers", "2", "--group", "split", "--redis", url_of_redis, "--rate", "30/s",
                              "--duration", "10s", "--journeys", "400", "--seed", "3") for i in (1, 2)]
        outputs = [shard.communicate(timeout=300) for shard in shards]
    finally:
        stop()
    for shard, (out, err) in zip(shards, outputs):
        assert shard.returncode in (0, 1), out[-2000:] + err[-2000:]
        assert "Traceback" not in err
        assert "2 workers" in out and "shard" in out
    reports = [json.loads((tmp_path / f"machine{i}" / "r.json").read_text()) for i in (1, 2)]
    runs = [run for report in reports for run in report["runs"]]
    assert len(runs) == 4 and sorted(r["seed"] for r in runs) == [3, 4, 5, 6], runs
    assert all(0 < r["journeys"] <= 100 for r in runs), runs  # 400 split by two shards, then by two workers
    reported = [f for r in runs for f in r["failures"]]
    assert reported and len(reported) == len(set(reported)), runs  # one report per failure, all four walkers
    # The cap held across both machines' workers, on the server's side, and lived in Redis.
    assert len(clocked.arrivals) > 6 * 30
    assert most_in_any_second(clocked.arrivals) <= 30
    assert client.keys("journeys:rate:split*") and client.keys("journeys:claim:split:*")
    labels = []
    for i in (1, 2):
        store = connect(tmp_path / f"machine{i}" / "journeys-store")
        for (text,) in store.execute("SELECT settings FROM runs_started").fetchall():
            settings = json.loads(text)
            assert settings["group"] == "split"
            labels.append(settings["worker"])
    assert sorted(labels) == ["1/4", "2/4", "3/4", "4/4"]
