"""Does a continuous exploration keep a steady memory footprint, and how fast does its store grow?

``journeys explore --forever`` is meant to run for days against a staging
target: each round is a fresh Hypothesis search, so the process's memory
should level off after a warm-up instead of growing with the journeys walked.
This script soaks it as a user would run it:

* ``journeys demo serve`` (seeded bugs off by default, ``--bugs`` to keep them)
  in a subprocess on a free 127.0.0.1 port;
* ``journeys explore models/shop.py --target http://127.0.0.1:PORT --forever
  --duration D --rate R`` in another subprocess, with a temporary store,
  reproductions folder and heartbeat file, and no example database;
* the explore process's resident set size (RSS) sampled every
  ``--sample-every`` (psutil if installed, else ``/proc/PID/status``), and its
  steps from the heartbeat file, so each sample also gives the steps/s since
  the one before.

At the end it prints a table (minute, RSS MB, steps/s), the ratio of the last
sample's RSS to the RSS at 5 minutes (for a run shorter than 10 minutes, to
the first sample after a warm-up of a fifth of the run), the growth in MB per
hour over the samples after the warm-up, and the store's size on disk per
hour run (bytes of the store folder once explore has closed it, divided by
the hours it ran). A footprint that levels off gives a ratio near 1.0 and a
slope near 0. The target runs in its own process, so what the demo shop
itself accumulates (accounts, orders) is not counted.

Not part of the test suite. Run from the repository root:

    .venv/bin/python bench/soak.py                                  # 60 minutes at 50/s
    .venv/bin/python bench/soak.py --duration 3m --sample-every 20s
    .venv/bin/python bench/soak.py --duration 8h --rate 20/s --bugs --keep
    .venv/bin/python bench/soak.py --probe      # and what the memory is made of, each minute

``--probe`` puts ``bench/soak_probe`` on the explore process's ``PYTHONPATH``: its
``sitecustomize`` samples, from inside, the resident anonymous memory and the
resident pages of mapped files (shared libraries' code, paged in as it is first
run), glibc's heap in use and held free (``mallinfo2``), Python's allocated
blocks and the objects the garbage collector tracks; the soak prints them as a
second table. It tells a leak (heap in use, blocks, objects rising) from
fragmentation (free heap rising) from code being paged in (file pages rising).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = "models/shop.py"
WARM_UP_S = 5 * 60
UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600}

try:
    import psutil
except ImportError:  # /proc is enough on Linux
    psutil = None


def seconds(text: str) -> float:
    """'90s', '3m', '1.5h', or a bare number of seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h)?\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90s, 3m, 1h)")
    value = float(match.group(1)) * UNITS[match.group(2) or "s"]
    if value <= 0:
        raise argparse.ArgumentTypeError(f"a duration must be positive: {text!r}")
    return value


def rss_mb(pid: int) -> float | None:
    """The process's resident set size in MB (2**20 bytes), None once it has gone."""
    if psutil is not None:
        try:
            return psutil.Process(pid).memory_info().rss / 2**20
        except psutil.Error:
            return None
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def heartbeat_steps(path: Path) -> int | None:
    try:
        return int(json.loads(path.read_text())["steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # not written yet, or caught mid-write


def folder_bytes(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def journeys_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine.cli", *args]


def start_demo(bugs: bool, log) -> tuple[subprocess.Popen, str]:
    """``journeys demo serve`` on a free port (``--port 0``); its URL from the line it prints."""
    server = subprocess.Popen(journeys_command("demo", "serve", "--port", "0", "--bugs" if bugs else "--no-bugs"),
                              cwd=ROOT, stdout=log, stderr=subprocess.PIPE, text=True)
    ready = server.stderr.readline()  # "demo shop listening on http://127.0.0.1:PORT ..."
    url = next((word for word in ready.split() if word.startswith("http://")), None)
    if url is None:
        stop(server)
        raise SystemExit(f"soak: the demo server did not start: {ready}{server.stderr.read()}")
    return server, url.rstrip(",.")


def stop(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGINT (journeys stops well on it), then SIGKILL if it has not ended within ``timeout``."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def reference(samples: list[tuple[float, float, int | None]], duration: float) -> tuple[int, str]:
    """Index of the sample the end is compared with, and what it is."""
    warm_up = WARM_UP_S if duration >= 2 * WARM_UP_S else duration / 5
    index = next((i for i, (t, _, _) in enumerate(samples) if t >= warm_up), 0)
    label = "RSS at 5 min" if warm_up == WARM_UP_S else f"RSS after a warm-up of {warm_up / 60:.1f} min"
    return index, label


def slope_mb_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of RSS over time, in MB per hour."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_r = sum(r for _, r in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    return sum((t - mean_t) * (r - mean_r) for t, r in points) / var * 3600


PROBE_COLUMNS = (("rss", "RSS"), ("rss_anon", "anon"), ("rss_file", "file"), ("heap_used", "heap used"),
                 ("heap_free", "heap free"), ("heap_mmapped", "of it mmapped"), ("py_arenas", "Python arenas"),
                 ("py_used", "of it used"), ("py_blocks", "Python blocks"),
                 ("gc_objects", "gc objects"))


def print_probe(path: Path) -> None:
    """The probe's lines as a table: MB but for the two counts."""
    try:
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError) as error:
        print(f"soak: no probe lines ({error})")
        return
    print()
    print("probe (MB, from inside the explore process):")
    print_table(("minute", *(label for _, label in PROBE_COLUMNS)),
                [(f"{line['t'] / 60:.1f}", *(_cell(line.get(key)) for key, _ in PROBE_COLUMNS)) for line in lines])


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Columns right-aligned to their widest cell."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    for row in (header, *rows):
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths)))


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=seconds, default=seconds("60m"),
                        help="how long explore runs (--duration of explore; default 60m)")
    parser.add_argument("--rate", default="50/s", help="explore's --rate cap on requests (default 50/s)")
    parser.add_argument("--sample-every", type=seconds, default=seconds("60s"),
                        help="time between two RSS samples (default 60s)")
    parser.add_argument("--bugs", action=argparse.BooleanOptionalAction, default=False,
                        help="serve the demo with its seeded bugs (default --no-bugs: a fixed build)")
    parser.add_argument("--probe", action="store_true",
                        help="sample what the explore process's memory is made of, from inside (bench/soak_probe)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (store, logs) and say where")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="journeys-soak-"))
    store, heartbeat = work / "store", work / "heartbeat.json"
    print(f"soak: {MODEL} against journeys demo serve ({'bugs on' if args.bugs else '--no-bugs'}), "
          f"--forever --duration {args.duration:.0f}s --rate {args.rate}, RSS every {args.sample_every:.0f}s, "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPU(s)", flush=True)
    server_log = open(work / "demo.log", "w")
    explore_log = open(work / "explore.log", "w")
    server, url = start_demo(args.bugs, server_log)
    explore = None
    samples: list[tuple[float, float, int | None]] = []  # (seconds since start, RSS MB, steps)
    environment = dict(os.environ)
    if args.probe:
        probe_dir = str(ROOT / "bench" / "soak_probe")
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [probe_dir, environment.get("PYTHONPATH")]))
        environment["JOURNEYS_SOAK_PROBE"] = str(work / "probe.jsonl")
        environment["JOURNEYS_SOAK_PROBE_EVERY"] = str(args.sample_every)
    try:
        explore = subprocess.Popen(journeys_command(
            "explore", MODEL, "--target", url, "--forever", "--duration", f"{args.duration:.0f}s",
            "--rate", args.rate, "--store", str(store), "--out", str(work / "reproductions"),
            "--no-examples-db", "--heartbeat", str(heartbeat), "--heartbeat-every", "5s"),
            cwd=ROOT, stdout=explore_log, stderr=subprocess.STDOUT, env=environment)
        started = time.monotonic()
        print(f"soak: demo at {url} (pid {server.pid}), explore pid {explore.pid}, folder {work}", flush=True)
        next_sample = started + args.sample_every
        hard_stop = started + args.duration + 300  # explore stops itself at --duration; this is a safety net
        while explore.poll() is None:
            now = time.monotonic()
            if now >= hard_stop:
                print("soak: explore did not stop at its --duration; stopping it", flush=True)
                stop(explore)
                break
            if now >= next_sample:
                rss = rss_mb(explore.pid)
                if rss is not None:
                    samples.append((now - started, rss, heartbeat_steps(heartbeat)))
                    print(f"  {(now - started) / 60:6.1f} min  {rss:7.1f} MB", flush=True)
                next_sample += args.sample_every
            time.sleep(min(1.0, max(0.05, next_sample - time.monotonic())))
        ran_s = time.monotonic() - started
        code = explore.wait()
    except KeyboardInterrupt:
        print("soak: interrupted; stopping explore and the demo", flush=True)
        raise
    finally:
        if explore is not None:
            stop(explore)
        stop(server)
        server.stderr.close()
        server_log.close()
        explore_log.close()

    tail = (work / "explore.log").read_text(errors="replace").strip().splitlines()[-3:]
    if code not in (0, 1):  # 1: failures found (with --bugs)
        print(f"soak: explore exited {code}; its last lines:\n  " + "\n  ".join(tail))
    if not samples:
        raise SystemExit(f"soak: no sample taken (explore ran {ran_s:.0f}s); see {work / 'explore.log'}")

    print()
    rows, previous = [], None
    for t, rss, steps in samples:
        rate = ""
        if steps is not None and previous is not None and previous[1] is not None:
            rate = f"{(steps - previous[1]) / (t - previous[0]):.1f}"
        rows.append((f"{t / 60:.1f}", f"{rss:.1f}", rate))
        previous = (t, steps)
    print_table(("minute", "RSS MB", "steps/s"), rows)

    index, label = reference(samples, args.duration)
    ref_t, ref_rss, _ = samples[index]
    end_t, end_rss, _ = samples[-1]
    slope = slope_mb_per_hour([(t, rss) for t, rss, _ in samples[index:]])
    size = folder_bytes(store) if store.exists() else 0
    hours = ran_s / 3600
    print()
    print(f"RSS(end)/{label}: {end_rss:.1f} / {ref_rss:.1f} MB = {end_rss / ref_rss:.2f} "
          f"(minute {end_t / 60:.1f} vs minute {ref_t / 60:.1f})")
    print("RSS growth after the warm-up: " + (f"{slope:+.1f} MB/hour (least squares over "
                                              f"{len(samples) - index} samples)" if slope is not None
                                              else "n/a (fewer than two samples after the warm-up)"))
    final_steps = samples[-1][2]
    if final_steps:
        print(f"steps: {final_steps} in {ran_s / 60:.1f} min ({final_steps / ran_s:.1f} steps/s overall)")
    print(f"store on disk: {size / 2**20:.1f} MB after {ran_s / 60:.1f} min = {size / hours / 2**20:.1f} MB per hour "
          f"({size / hours:,.0f} bytes/hour)")
    if args.probe:
        print_probe(work / "probe.jsonl")
    if args.keep:
        print(f"kept: {work} (store, explore.log, demo.log)")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
