"""Do more workers help when the target, not the engine, is the limit? And do they keep to one cap?

Against production every request waits on the network. This script serves the demo shop on
127.0.0.1 with ``--latency`` added to every answer (default 20 ms), in this process on a thread
per request, counting when each request arrives, and runs

1. **scaling**: ``journeys explore models/shop.py --workers N --duration D`` for N = 1, 2, 4, 8
   (seeded bugs off, so every journey explores: nothing is shrunk), steps/s from the run's JSON
   report, and the ratio to one worker;
2. **under the cap**: ``--workers 8 --rate 50/s`` for the same time: the most requests the server
   saw in any one second, against the cap.

Not part of the test suite. Run from the repository root:

    .venv/bin/python bench/worker_scaling.py
    .venv/bin/python bench/worker_scaling.py --duration 30s --latency 50ms --workers 1,4,16
"""

from __future__ import annotations

import argparse
import bisect
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo_shop import DemoShop, start_in_thread  # noqa: E402
from engine.cli.demo_command import Slowed  # noqa: E402


class Clocked:
    def __init__(self, app) -> None:
        self.app, self.arrivals, self.lock = app, [], threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.arrivals.append(time.time())
        return self.app(environ, start_response)


def most_in_any_second(arrivals: list[float]) -> int:
    times = sorted(arrivals)
    return max((bisect.bisect_left(times, start + 1.0) - i for i, start in enumerate(times)), default=0)


def explore(url: str, workers: int, duration: str, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="journeys-workers-") as folder:
        subprocess.run([sys.executable, "-m", "engine.cli", "explore", str(ROOT / "models" / "shop.py"),
                        "--target", url, "--workers", str(workers), "--forever", "--duration", duration,
                        "--seed", "1", "--no-examples-db", "--store", f"{folder}/store", "--out", f"{folder}/out",
                        "--json", f"{folder}/r.json", *extra],
                       cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        return json.loads(Path(folder, "r.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", default="20s")
    parser.add_argument("--latency", default="20ms", help="added to every answer (default 20ms)")
    parser.add_argument("--workers", default="1,2,4,8", help="worker counts to run (default 1,2,4,8)")
    parser.add_argument("--cap", type=int, default=50, help="the cap of the second part, requests/s (default 50)")
    args = parser.parse_args()
    latency = float(args.latency.removesuffix("ms")) / 1000 if args.latency.endswith("ms") else float(args.latency)
    counts = [int(n) for n in args.workers.split(",")]

    print(f"worker_scaling: models/shop.py, demo shop (bugs off) +{latency * 1000:g} ms per answer, "
          f"{args.duration} per run")
    print(f"{'workers':>8}{'steps/s':>10}{'ratio':>8}{'requests/s':>12}{'journeys':>10}")
    baseline = None
    for count in counts:
        clocked = Clocked(Slowed(DemoShop(bugs=False, seed=0), latency))
        url, stop = start_in_thread(clocked)
        try:
            report = explore(url, count, args.duration, [])
        finally:
            stop()
        rate = report["steps"] / max(report["duration_s"], 1e-6)
        baseline = baseline or rate
        span = (max(clocked.arrivals) - min(clocked.arrivals)) if len(clocked.arrivals) > 1 else 1.0
        print(f"{count:>8}{rate:>10.1f}{rate / baseline:>8.2f}{len(clocked.arrivals) / span:>12.1f}"
              f"{report['journeys']:>10}", flush=True)

    clocked = Clocked(Slowed(DemoShop(bugs=False, seed=0), latency))
    url, stop = start_in_thread(clocked)
    try:
        explore(url, max(counts), args.duration, ["--rate", f"{args.cap}/s"])
    finally:
        stop()
    most = most_in_any_second(clocked.arrivals)
    print(f"\nunder the cap: --workers {max(counts)} --rate {args.cap}/s: at most {most} requests in any second "
          f"on the server's side ({most / args.cap:.2f} of the cap), {len(clocked.arrivals)} in all")


if __name__ == "__main__":
    main()
