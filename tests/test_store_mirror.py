"""The store on object storage: a run's files copied to a real S3-compatible server (moto's, on
127.0.0.1) and read there through DuckDB. Two machines mirroring into one bucket are in
test_shards.py; here, the mirror on its own: each file copied once, a bucket that is missing waited
out and reported once, covered files collected after the grace, and clear errors."""

from __future__ import annotations

import json
import time
import uuid

from engine.store import connect
from engine.store.layout import SEGMENT_GRACE_S, write_atomically
from engine.store.remote import RemoteStore, StoreMirror
from engine.store.schema import TABLES

from .conftest import ROOT, run_journeys
from .test_store_layout import new_store, steps_rows

COUNT = "SELECT count(*), count(DISTINCT journey) FROM steps"


def test_a_mirror_copies_each_file_once_waits_out_a_missing_bucket_and_collects_covered_files(tmp_path,
                                                                                             object_store):
    layout = new_store(tmp_path)
    for flush in (1, 2, 3):  # three flushes of a run, as the writer leaves them
        write_atomically(steps_rows(100 * flush, 50), layout.data_path("steps", "run1", flush, flush))
    bucket = f"bucket-{uuid.uuid4().hex[:8]}"
    url = f"s3://{bucket}/store"
    said: list[str] = []
    mirror = StoreMirror(layout, url, on_error=said.append)

    assert mirror.sync("run1") is False and mirror.sync("run1") is False  # no bucket yet
    assert len(said) == 1 and "could not copy the store" in said[0] and "local store keeps every row" in said[0]
    object_store.filesystem().mkdir(bucket)
    assert mirror.sync("run1") is True and said[-1].endswith("works again")
    assert mirror.files_copied == len(TABLES) + 3
    assert mirror.sync("run1") is True and mirror.files_copied == len(TABLES) + 3  # nothing copied twice
    assert connect(url).execute(COUNT).fetchone() == connect(layout.root).execute(COUNT).fetchone() == (150, 150)

    layout.merge_run("run1")  # what a run does at its end: one file covering its three segments
    assert mirror.sync("run1") is True and mirror.files_copied == len(TABLES) + 4
    assert connect(url).execute(COUNT).fetchone() == (150, 150)  # the merged file and its parts count once
    remote = RemoteStore(url)
    assert remote.collect_garbage() == 0  # a query that listed the segments may still be reading them
    assert remote.collect_garbage(now=time.time() + SEGMENT_GRACE_S + 5) == 3
    assert sorted(p.rsplit("/", 1)[1] for p in object_store.filesystem().ls(f"{bucket}/store/steps")) == [
        "_schema.parquet", "run1~000001-000003.parquet"]
    assert connect(url).execute(COUNT).fetchone() == (150, 150)


def test_a_bucket_that_cannot_be_used_is_one_clear_line(tmp_path, object_store):
    model = str(ROOT / "models" / "shop.py")
    missing = f"s3://missing-{uuid.uuid4().hex[:8]}/store"
    for args, words in ((["explore", model, "--target", "demo", "--journeys", "2", "--mirror", missing],
                         "cannot write there: The specified bucket does not exist"),
                        (["explore", model, "--target", "demo", "--mirror", "/tmp/folder"], "write s3://BUCKET/PREFIX"),
                        (["explore", model, "--target", "demo", "--store", missing], "this command writes to the store"),
                        (["replay", "abcdef12", "--target", "demo", "--store", missing],
                         "this command writes to the store"),
                        (["cleanup", "--all", "--store", missing], "no journeys store at"),
                        (["report", "--store", missing], "no journeys store at")):
        result = run_journeys(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stdout[-1000:], result.stderr[-2000:])
        assert words in result.stderr and "Traceback" not in result.stderr, (args, result.stderr[-2000:])
    assert connect(tmp_path / "journeys-store").execute("SELECT count(*) FROM runs_started").fetchone() == (0,)


def test_a_continuous_run_on_a_fresh_machine_knows_the_failures_the_bucket_holds(tmp_path, object_store):
    """A Kubernetes pod starts with an empty volume: with --mirror it learns the known failures from the
    bucket, so it re-checks them and never shrinks or reports them again."""
    bucket = f"bucket-{uuid.uuid4().hex[:8]}"
    object_store.filesystem().mkdir(bucket)
    url = f"s3://{bucket}/store"
    model = str(ROOT / "models" / "shop.py")
    reports = []
    for machine in ("first", "fresh"):
        folder = tmp_path / machine
        folder.mkdir()
        result = run_journeys("explore", model, "--target", "demo", "--forever", "--duration", "10s", "--seed", "4",
                              "--no-examples-db", "--no-recheck", "--mirror", url, "--json", "r.json", cwd=folder)
        assert result.returncode in (0, 1), result.stderr[-3000:]
        reports.append(json.loads((folder / "r.json").read_text()))
    first, fresh = ({f["id"] for f in report["failures"]} for report in reports)
    assert first, "the first machine found nothing to remember"
    assert not first & fresh, first & fresh  # none found again as new: the bucket knew them
    assert set(reports[1]["known_met"]) & first  # ...and the fresh machine met some of them again
    assert reports[1]["shrink_journeys"] < reports[0]["shrink_journeys"]
    # Each machine's last heartbeat is in the bucket too: a monitor anywhere sees both runs finished.
    beats = connect(url).execute("SELECT run_id, finished, steps FROM heartbeats ORDER BY beat_at").fetchall()
    assert [(run_id, finished, steps) for run_id, finished, steps in beats] == [
        (report["run_id"], True, report["steps"]) for report in reports]
