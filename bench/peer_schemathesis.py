"""journeys against a peer: Schemathesis on the same demo shop, the same wall-clock budget.

Schemathesis (``st run``, every phase and every check, on the demo's ``/openapi.json``) is the
property-based API tester most teams would reach for. This script installs it into a virtualenv
of its own under ~/.cache/journeys (never into the project's; the first run needs the package
registry), serves the demo
shop on 127.0.0.1 in this process, counting the requests that arrive, and runs each tool for the
same budget (default 60 s):

- ``journeys``: ``journeys explore models/shop.py --duration BUDGET`` (its journeys, shrinking and
  replays all inside the budget);
- ``st``: ``st run URL/openapi.json --checks all --max-time BUDGET`` as it comes (no credentials);
- ``st+auth``: the same with the dynamic login Schemathesis itself suggests (an account signed up
  by this script, ``/api/login`` for a bearer token; ``DELETE /api/account`` excluded, since it
  would delete the account every later request signs in with): the peer at its best.

Which seeded bugs a tool finds is decided by ablation, the same way for every tool: one run
against a demo with no bug (the baseline: what the tool reports on a correct shop), then one run
per seeded bug with only that bug on. A bug counts as found when the tool reports a failure the
baseline run did not (journeys: action and check; Schemathesis: check code and operation); the new
failures are printed, so the attribution can be checked. A failure new in the runs of three or more
different bugs is not attributed to any (a seeded bug lives in one place: such a failure shows
whatever bug is on, noise the baseline run happened to miss); a tool whose runs differ by chance
can still score a bug it did not find: read the failures it names. ``/__reset`` (a test hook that wipes the
shop, which Schemathesis would otherwise call) is excluded for Schemathesis.

Not part of the test suite: 8 demo builds x 3 tools x the budget (24 minutes at 60 s). Run from
the repository root:

    .venv/bin/python bench/peer_schemathesis.py
    .venv/bin/python bench/peer_schemathesis.py --budget 20 --bugs order_owner_check,coupon_after_removal
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import venv
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo_shop import DemoShop, start_in_thread  # noqa: E402
from demo_shop.domain import BUGS  # noqa: E402

PEER = "schemathesis==4.32.5"
NOISE_RUNS = 3  # a failure new in this many bugs' runs is not attributed to any of them
PEER_VENV = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "journeys" / "peer-schemathesis"
AUTH_CONFIG = """\
[auth.dynamic.openapi.bearerAuth]
path = "/api/login"
payload = { email = "${LOGIN_EMAIL}", password = "${LOGIN_PASSWORD}" }
extract_selector = "/token"
"""


class Counted:
    """The app, counting the requests that reach it."""

    def __init__(self, app) -> None:
        self.app, self.requests, self.lock = app, 0, threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.requests += 1
        return self.app(environ, start_response)


def peer_binary() -> Path:
    binary = PEER_VENV / "bin" / "st"
    if not binary.exists():
        print(f"installing {PEER} into {PEER_VENV} (once)...", flush=True)
        venv.create(PEER_VENV, with_pip=True)
        subprocess.run([str(PEER_VENV / "bin" / "pip"), "install", "-q", PEER], check=True)
    return binary


def run_journeys(url: str, budget: int, folder: Path, seed: int) -> set[str]:
    subprocess.run([sys.executable, "-m", "engine.cli", "explore", str(ROOT / "models" / "shop.py"),
                    "--target", url, "--duration", f"{budget}s", "--journeys", "1000000", "--seed", str(seed),
                    "--no-examples-db", "--store", str(folder / "store"), "--out", str(folder / "out"),
                    "--json", str(folder / "r.json")], cwd=folder, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    report = json.loads((folder / "r.json").read_text())
    fingerprints = [f["fingerprint"] for f in report["failures"]]
    return {f"{fp['action']}: {fp['check']} ({fp['status']})" for fp in fingerprints}


def run_schemathesis(url: str, budget: int, folder: Path, *, auth: bool) -> set[str]:
    env = dict(os.environ)
    args = [str(peer_binary()), "run", f"{url}/openapi.json", "--checks", "all", "--max-time", str(budget),
            "--exclude-path", "/__reset", "--report", "ndjson", "--report-dir", str(folder / "st")]
    if auth:
        email, password = f"peer-{time.time_ns()}@example.com", "peer-password-1"
        httpx.post(f"{url}/api/signup", json={"name": "Peer", "email": email, "password": password}).raise_for_status()
        (folder / "schemathesis.toml").write_text(AUTH_CONFIG)
        args[1:1] = ["--config-file", str(folder / "schemathesis.toml")]  # a global option, before `run`
        args += ["--exclude-operation-id", "delete_account"]  # it would delete the account the login uses
        env.update(LOGIN_EMAIL=email, LOGIN_PASSWORD=password)
    subprocess.run(args, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                   timeout=budget * 3 + 60)
    found: set[str] = set()
    for report in (folder / "st").glob("*.ndjson"):
        for line in report.read_text().splitlines():
            for failure in _failures(json.loads(line)):
                found.add(f"{failure.get('code') or failure.get('type')} {failure.get('operation')}")
    return found


def _failures(event):
    """The ``failure_info.failure`` objects anywhere in one NDJSON event (they sit in its checks)."""
    if isinstance(event, dict):
        failure = (event.get("failure_info") or {}).get("failure")
        if failure:
            yield failure
        for value in event.values():
            yield from _failures(value)
    elif isinstance(event, list):
        for value in event:
            yield from _failures(value)


TOOLS = {
    "journeys": lambda url, budget, folder, seed: run_journeys(url, budget, folder, seed),
    "st": lambda url, budget, folder, seed: run_schemathesis(url, budget, folder, auth=False),
    "st+auth": lambda url, budget, folder, seed: run_schemathesis(url, budget, folder, auth=True),
}


def one_run(tool: str, bugs, budget: int, seed: int) -> tuple[set[str], float]:
    """The failures ``tool`` reported against a demo with ``bugs``, and the requests/s the demo saw."""
    counted = Counted(DemoShop(bugs=bugs, seed=seed))
    url, stop = start_in_thread(counted)
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="journeys-peer-") as folder:
            found = TOOLS[tool](url, budget, Path(folder), seed)
    finally:
        elapsed = time.monotonic() - started
        stop()
    return found, counted.requests / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=int, default=60, help="seconds per run (default 60)")
    parser.add_argument("--bugs", default=",".join(BUGS), help="seeded bugs to try, one run each (default all)")
    parser.add_argument("--tools", default=",".join(TOOLS), help=f"default {','.join(TOOLS)}")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    bugs, tools = args.bugs.split(","), args.tools.split(",")
    if any(tool.startswith("st") for tool in tools):
        peer_binary()
    print(f"peer_schemathesis: demo shop on 127.0.0.1, {args.budget} s per run, {PEER}")
    found_by: dict[str, list[str]] = {tool: [] for tool in tools}
    rates: dict[str, list[float]] = {tool: [] for tool in tools}
    for tool in tools:
        baseline, rate = one_run(tool, False, args.budget, args.seed)
        rates[tool].append(rate)
        print(f"\n{tool}: no bug: {len(baseline)} failure(s) reported on a correct shop, {rate:.0f} requests/s",
              flush=True)
        for failure in sorted(baseline):
            print(f"    baseline: {failure}")
        news: dict[str, set[str]] = {}
        for bug in bugs:
            reported, rate = one_run(tool, [bug], args.budget, args.seed)
            rates[tool].append(rate)
            news[bug] = reported - baseline
            print(f"  {bug:<26} {len(news[bug])} new failure(s) {rate:>6.0f} requests/s  "
                  f"{'; '.join(sorted(news[bug]))[:150]}", flush=True)
        # A seeded bug lives in one place: a failure that shows in the runs of NOISE_RUNS or more
        # different bugs shows whatever bug is on (run-to-run noise the baseline happened to miss).
        counts: dict[str, int] = {}
        for failures in news.values():
            for failure in failures:
                counts[failure] = counts.get(failure, 0) + 1
        noise = {failure for failure, count in counts.items() if count >= NOISE_RUNS}
        for failure in sorted(noise):
            print(f"    noise, not counted: {failure} (in the runs of {counts[failure]} different bugs)")
        for bug in bugs:
            kept = sorted(news[bug] - noise)
            if kept:
                found_by[tool].append(bug)
            print(f"  {bug:<26} {'FOUND' if kept else 'missed':<7} {'; '.join(kept)[:150]}", flush=True)
    medians = {tool: sorted(rates[tool])[len(rates[tool]) // 2] for tool in tools}
    base = max((medians[tool] for tool in tools if tool.startswith("st")), default=None)
    print(f"\n{'tool':<10}{'bugs found':>12}{'requests/s (median)':>22}" + (f"{'ratio':>8}" if base else ""))
    for tool in tools:
        ratio = f"{medians[tool] / base:>8.2f}" if base else ""
        print(f"{tool:<10}{len(found_by[tool]):>6} of {len(bugs):<4}{medians[tool]:>22.0f}{ratio}")
    if base:
        print("(ratio: requests/s against the faster Schemathesis run's)")


if __name__ == "__main__":
    main()
