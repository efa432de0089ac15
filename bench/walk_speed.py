"""How fast does the engine walk journeys, next to a hand-written httpx loop?

The engine spends time on things a plain client does not: Hypothesis draws the
data and picks the next rule, every step is recorded, checked against the
model's invariants and emitted as an event, and journeys clean up after
themselves. This script puts a number on that overhead by comparing, against
the same target:

* engine: ``Explorer.run()`` on ``models/shop.py`` for a fixed seed and number
  of journeys (no example database). Steps come from ``StepFinished`` events;
  requests are every HTTP request the engine sent: the steps' requests plus
  the clean-up and teardown requests (from ``CleanupFinished``).
* raw: a plain ``httpx.Client`` loop walking one typical shop journey by hand
  (sign up, log in, list products, add to cart, check out, view the order,
  delete the account: 7 requests, statuses checked, JSON read where needed),
  repeated until it has sent at least as many requests as the engine did.

Both run in two settings: ``in-process`` (the demo shop through httpx's WSGI
transport, so the figures are mostly client-side Python cost) and ``served``
(``journeys demo serve`` in a subprocess, reached over HTTP on 127.0.0.1, as
a user would run it; on a small machine the server shares the CPUs). Each
measurement gets a fresh shop with its seeded bugs off, so the walk does not
spend its time shrinking failures; that also turns off the demo's random 503
on checkout, which is one of the seeded bugs. Any failure the engine still
reports is printed below the table.

Run from the repository root:  .venv/bin/python bench/walk_speed.py [--journeys 200]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout, installed or not

from engine.events import CleanupFinished, EventBus, Notice, StepFinished
from engine.walk.explorer import Explorer, ExploreSettings
from engine.model.loader import load_model
from engine.http.client import Target, open_target, preflight

MODEL = ROOT / "models" / "shop.py"
RAW_REQUESTS_PER_JOURNEY = 7
SHIPPING = {"name": "Ada Lovelace", "street": "1 Analytical Row", "city": "London",
            "postcode": "N1 9GU", "country": "GB"}


class Counter:
    """Event subscriber: steps, the requests they sent, clean-up requests, notices."""

    def __init__(self) -> None:
        self.steps = self.step_requests = self.cleanup_requests = 0
        self.notices: list[str] = []

    def handle(self, event) -> None:
        if isinstance(event, StepFinished):
            self.steps += 1
            self.step_requests += sum(record.attempts for record in event.step.requests)
        elif isinstance(event, CleanupFinished):
            self.cleanup_requests += 1
        elif isinstance(event, Notice):
            self.notices.append(event.message)


@contextmanager
def target(setting: str, seed: int) -> Iterator[Target]:
    """A fresh demo shop (seeded bugs off) for one measurement, opened and preflighted."""
    if setting == "in-process":
        opened = open_target("demo", seed=seed, demo_bugs=False)
        try:
            preflight(opened)
            yield opened
        finally:
            opened.close()
        return
    server = subprocess.Popen(
        [sys.executable, "-m", "engine.cli", "demo", "serve", "--port", "0", "--no-bugs", "--seed", str(seed)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        ready = server.stderr.readline()  # "demo shop listening on http://127.0.0.1:PORT ..."
        url = next((word for word in ready.split() if word.startswith("http://")), None)
        if url is None:
            raise RuntimeError(f"demo server did not start: {ready}{server.stderr.read()}")
        opened = open_target(url)
        try:
            preflight(opened)
            yield opened
        finally:
            opened.close()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stderr.close()


def run_engine(setting: str, journeys: int, seed: int) -> dict:
    model = load_model(str(MODEL))
    counter = Counter()
    settings = ExploreSettings(journeys=journeys, max_steps=25, seed=seed, database=None, replays=5)
    with target(setting, seed) as opened:
        explorer = Explorer(model, opened, EventBus([counter]), settings)
        started = time.perf_counter()
        finished = explorer.run()
        elapsed = time.perf_counter() - started
    return {"journeys": finished.journeys, "steps": counter.steps, "elapsed": elapsed,
            "requests": counter.step_requests + counter.cleanup_requests,
            "step_requests": counter.step_requests, "cleanup_requests": counter.cleanup_requests,
            "failures": finished.failures, "notices": counter.notices}


def raw_journey(client: httpx.Client, n: int) -> None:
    """One shop journey by hand: 7 requests, each status checked."""

    def call(method: str, path: str, expected: int, **kwargs) -> httpx.Response:
        response = client.request(method, path, **kwargs)
        if response.status_code != expected:
            raise RuntimeError(f"raw journey {n}: {method} {path} -> {response.status_code}, "
                               f"expected {expected}: {response.text[:200]}")
        return response

    email, password = f"bench{n}@example.com", "correct horse battery"
    call("POST", "/api/signup", 201, json={"name": "Bench User", "email": email, "password": password})
    token = call("POST", "/api/login", 200, json={"email": email, "password": password}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    product = call("GET", "/api/products", 200).json()["products"][n % 5]["id"]
    call("POST", "/api/cart/items", 201, json={"product_id": product, "quantity": 2}, headers=auth)
    order = call("POST", "/api/checkout", 201, json={"shipping": SHIPPING}, headers=auth).json()
    call("GET", f"/api/orders/{order['id']}", 200, headers=auth)
    call("DELETE", "/api/account", 204, headers=auth)


def run_raw(setting: str, min_requests: int, seed: int) -> dict:
    journeys = max(1, -(-min_requests // RAW_REQUESTS_PER_JOURNEY))  # ceiling division
    with target(setting, seed) as opened:
        started = time.perf_counter()
        for n in range(journeys):
            raw_journey(opened.client, n)
        elapsed = time.perf_counter() - started
    return {"journeys": journeys, "requests": journeys * RAW_REQUESTS_PER_JOURNEY, "elapsed": elapsed}


def median_run(runs: list[dict]) -> dict:
    """The run of median elapsed time (the same seed walks the same journeys every time)."""
    return sorted(runs, key=lambda run: run["elapsed"])[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--journeys", type=int, default=200, help="engine journeys per setting (default 200)")
    parser.add_argument("--seed", type=int, default=1, help="engine and demo seed (default 1)")
    parser.add_argument("--settings", choices=("in-process", "served", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=3,
                        help="engine and raw runs per setting, interleaved; the medians are compared (default 3)")
    args = parser.parse_args()
    if args.journeys < 1 or args.repeat < 1:
        parser.error("--journeys and --repeat must be at least 1")
    settings = ("in-process", "served") if args.settings == "both" else (args.settings,)

    print(f"walk_speed: model {MODEL.relative_to(ROOT)}, {args.journeys} journeys x 25 max steps, "
          f"seed {args.seed}, demo bugs off, Python {sys.version.split()[0]}, {os.cpu_count()} CPU(s)")
    rows, remarks = [], []
    for setting in settings:
        engines, raws = [], []
        for _ in range(args.repeat):  # interleaved, so a slow spell of the machine hits both sides
            print(f"  {setting}: engine...", end="", flush=True)
            engines.append(run_engine(setting, args.journeys, args.seed))
            print(f" {engines[-1]['elapsed']:.1f}s; raw...", end="", flush=True)
            raws.append(run_raw(setting, engines[-1]["requests"], args.seed))
            print(f" {raws[-1]['elapsed']:.1f}s")
        engine = median_run(engines)
        raw = median_run(raws)
        engine_rps = engine["requests"] / engine["elapsed"]
        raw_rps = raw["requests"] / raw["elapsed"]
        rows.append((setting, f"{engine['journeys']}", f"{engine['steps']}",
                     f"{engine['steps'] / engine['elapsed']:.0f}", f"{engine_rps:.0f}",
                     f"{raw_rps:.0f}", f"{engine_rps / raw_rps:.2f}"))
        remarks.append(f"{setting}: engine {engine['requests']} requests ({engine['step_requests']} in steps, "
                       f"{engine['cleanup_requests']} clean-up) in {engine['elapsed']:.1f}s; "
                       f"raw {raw['requests']} requests ({raw['journeys']} journeys) in {raw['elapsed']:.1f}s")
        for failure in engine["failures"]:
            remarks.append(f"{setting}: engine reported a failure ({failure.kind}, "
                           f"{failure.replays_failed}/{failure.replays_run} replays): {failure.fingerprint}")
        remarks += [f"{setting}: notice: {message}" for message in engine["notices"]]

    header = ("setting", "journeys", "steps", "engine steps/s", "engine req/s", "raw req/s", "engine/raw")
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    print()
    for line in (header, *rows):
        print("  ".join(cell.rjust(width) if i else cell.ljust(width)
                        for i, (cell, width) in enumerate(zip(line, widths))))
    print()
    print("engine req/s counts every request the engine sent (steps + clean-up and teardown);")
    print("raw req/s counts a hand-written 7-request shop journey in a plain httpx loop;")
    print("engine/raw is the ratio of the two request rates (1.00 = no overhead); each side is the")
    print(f"median of {args.repeat} runs, interleaved.")
    for remark in remarks:
        print(f"  {remark}")


if __name__ == "__main__":
    main()
