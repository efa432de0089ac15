"""The heartbeat file: a monitor sees it beat while the run explores, and while it waits."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

from .conftest import ROOT


def test_the_heartbeat_beats_while_exploring_and_through_a_pause(tmp_path):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    pause = f"* {now + timedelta(seconds=5):%H:%M:%S}-{now + timedelta(seconds=9):%H:%M:%S} pause"
    beat = tmp_path / "beat" / "heartbeat.json"
    run = subprocess.Popen([sys.executable, "-m", "engine.cli", "explore", str(ROOT / "models" / "shop.py"),
                            "--target", "demo", "--duration", "11s", "--no-examples-db", "--no-store",
                            "--rate", "50/s", "--schedule", pause, "--heartbeat", str(beat), "--heartbeat-every", "1s"],
                           cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    while run.poll() is None:
        if beat.exists():
            seen.append(json.loads(beat.read_text(encoding="utf-8")))
        time.sleep(0.5)
    out, err = run.communicate()
    assert run.returncode in (0, 1), err[-2000:]
    final = json.loads(beat.read_text(encoding="utf-8"))
    assert final["finished"] and final["state"].startswith("finished") and final["steps"] > 0
    times = sorted({beat["at"] for beat in seen})
    assert len(times) >= 6  # it beat about every second, paused or not
    paused = [beat for beat in seen if beat["state"] == "paused"]
    assert paused and len({beat["at"] for beat in paused}) >= 2  # still beating during the pause
    assert paused[0]["steps"] == paused[-1]["steps"]  # and nothing walked in it
    counts = [beat["steps"] for beat in seen]
    assert counts == sorted(counts) and counts[-1] > counts[0]


def test_a_heartbeat_file_that_cannot_be_written_is_one_line_exit_2(tmp_path):
    (tmp_path / "file").write_text("x")
    result = subprocess.run([sys.executable, "-m", "engine.cli", "explore", str(ROOT / "models" / "shop.py"),
                             "--target", "demo", "--journeys", "2", "--heartbeat", str(tmp_path / "file" / "hb.json")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 2 and "heartbeat" in result.stderr and "Traceback" not in result.stderr


def test_a_run_with_a_store_keeps_its_heartbeat_as_a_row_of_the_store(tmp_path):
    """The library (the second target), served on 127.0.0.1: a monitor reading only the store sees the run
    beat while it explores, then finished with the counts the store's own tables hold."""
    from demo_shop import start_in_thread
    from engine.store.reader import connect

    from .library_app import Library

    url, stop = start_in_thread(Library(bugs=()))
    store = tmp_path / "store"
    try:
        run = subprocess.Popen([sys.executable, "-m", "engine.cli", "explore", str(ROOT / "tests" / "library_model.py"),
                                "--target", url, "--forever", "--duration", "12s", "--no-examples-db",
                                "--store", str(store), "--heartbeat-every", "1s"],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen, report = [], None
        while run.poll() is None:
            if (store / "heartbeats").is_dir():
                seen += connect(str(store)).execute("SELECT beat_at, steps, state FROM heartbeats").fetchall()
                if report is None and len(seen) >= 3:  # what `journeys report` says of a run still going
                    report = subprocess.Popen([sys.executable, "-m", "engine.cli", "report", "--store", str(store)],
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                              env={**os.environ, "COLUMNS": "200"})
            time.sleep(0.7)
        out, err = run.communicate()
        said, complaint = report.communicate(timeout=60) if report is not None else ("", "")
    finally:
        stop()
    assert run.returncode == 0, err[-2000:]
    assert report is not None and report.returncode == 0, complaint
    assert "Runs without an end" in said and "beating" in said, said
    exploring = {at for at, _, state in seen if state == "exploring"}
    assert len(exploring) >= 4, seen  # it beat about every second while it explored
    assert [steps for _, steps, _ in seen] == sorted(steps for _, steps, _ in seen)
    connection = connect(str(store))
    (run_id, finished, state, steps, journeys, every_s), = connection.execute(
        "SELECT run_id, finished, state, steps, journeys, every_s FROM heartbeats").fetchall()
    assert finished and state.startswith("finished") and every_s == 1.0
    assert steps == connection.execute("SELECT count(*) FROM steps WHERE run_id = ?", [run_id]).fetchone()[0]
    assert journeys == connection.execute("SELECT count(*) FROM journeys WHERE run_id = ? AND phase = 'explore'",
                                          [run_id]).fetchone()[0]


def test_the_beat_thread_and_the_final_beat_never_write_over_each_other(tmp_path):
    """Both wrote the same temporary file: a worker of --workers (beating every second) once exited 2 with
    'Heartbeat failed on RunFinished: FileNotFoundError' when the two met."""
    from engine.cli.heartbeat import Heartbeat

    beat = Heartbeat(tmp_path / "beat.json", tmp_path / "store" / "beat.json", every_s=0.0005)
    try:
        for _ in range(3000):  # the walk's thread writing (as on RunFinished) while the beat thread does
            beat._write()
    finally:
        beat.close()
    assert json.loads((tmp_path / "store" / "beat.json").read_text(encoding="utf-8"))["every_s"] == 0.0005
