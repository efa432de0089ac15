"""Does a sink that fails or hangs slow the walk? Steps/s with and without alerting, side by side.

Alerts are queued by a bus subscriber and delivered by their own thread, so the walk should not
notice a sink at all, even one that never answers. This script measures it as a user would meet it:

* ``journeys demo serve --bugs`` in a subprocess on a free 127.0.0.1 port (a fresh one per run,
  so every run starts from the same shop), and a webhook receiver in this process on another port;
* ``journeys explore models/shop.py --forever --duration D --seed S`` with a fresh store, once
  per configuration: no sink; a webhook that answers 202; one that answers 500 to everything
  (retried with back-off all run long); one that holds every request until the client gives up;
* steps/s from each run's JSON report (steps / the walk's duration), the alerts each sink was
  sent, and the ratio of each run's steps/s to the run without a sink.

Each configuration runs ``--repeat`` times, interleaved, and the median is printed. Not part of the
test suite. Run from the repository root:

    .venv/bin/python bench/alert_cost.py                      # 30 s per run, 3 repeats
    .venv/bin/python bench/alert_cost.py --duration 60s --repeat 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soak import ROOT, journeys_command, seconds, start_demo, stop  # noqa: E402

MODES = ("no sink", "webhook 202", "webhook 500", "webhook stuck")


class Receiver:
    """Answers every POST according to ``mode``; counts what it was sent."""

    def __init__(self) -> None:
        self.mode = "webhook 202"
        self.received = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received += 1
                if receiver.mode == "webhook stuck":
                    time.sleep(30)  # longer than the client's timeout: it gives up and retries later
                    return
                self.send_response(500 if receiver.mode == "webhook 500" else 202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def one_run(mode: str, receiver: Receiver, duration: str, seed: int, log) -> tuple[float, int, int]:
    """(steps/s, failures found, requests the receiver got) for one exploration."""
    server, url = start_demo(True, log)
    receiver.mode, receiver.received = mode, 0
    try:
        with tempfile.TemporaryDirectory(prefix="journeys-alert-cost-") as folder:
            sink = [] if mode == "no sink" else ["--webhook-url", receiver.url]
            subprocess.run(journeys_command("explore", str(ROOT / "models" / "shop.py"), "--target", url,
                                            "--forever", "--duration", duration, "--seed", str(seed),
                                            "--no-examples-db", "--store", f"{folder}/store",
                                            "--out", f"{folder}/reproductions", "--json", f"{folder}/r.json",
                                            *sink),
                           cwd=ROOT, stdout=log, stderr=log, check=False)
            report = json.loads(Path(folder, "r.json").read_text())
    finally:
        stop(server)
    return report["steps"] / report["duration_s"], len(report["failures"]), receiver.received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", default="30s", help="each exploration's length (default 30s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration, interleaved (default 3)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    seconds(args.duration)  # a clear error for a bad duration before anything starts
    receiver = Receiver()
    results: dict[str, list[tuple[float, int, int]]] = {mode: [] for mode in MODES}
    with open(Path(tempfile.gettempdir()) / "journeys-alert-cost.log", "w") as log:
        for repeat in range(args.repeat):
            for mode in MODES:
                results[mode].append(one_run(mode, receiver, args.duration, args.seed + repeat, log))
                rate, failures, received = results[mode][-1]
                print(f"  run {repeat + 1} {mode:<14} {rate:7.1f} steps/s, {failures} failures, "
                      f"{received} request(s) to the sink", flush=True)
    baseline = statistics.median(rate for rate, _, _ in results["no sink"])
    print(f"\nalert_cost: models/shop.py on journeys demo serve --bugs, {args.duration} per run, "
          f"median of {args.repeat}")
    print(f"{'configuration':<16}{'steps/s':>10}{'ratio':>8}{'failures':>10}{'sink requests':>15}")
    for mode in MODES:
        rate = statistics.median(r for r, _, _ in results[mode])
        failures = statistics.median(f for _, f, _ in results[mode])
        received = statistics.median(n for _, _, n in results[mode])
        print(f"{mode:<16}{rate:>10.1f}{rate / baseline:>8.2f}{failures:>10.0f}{received:>15.0f}")


if __name__ == "__main__":
    main()
