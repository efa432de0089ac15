"""What does the store cost the walk, how fast does it write, how fast is it read back?

The store (``engine/store``) is an event subscriber that buffers rows on the
walk's thread and writes Parquet segments from a background thread; analysts
read it back through DuckDB views. This script puts numbers on its three
promises:

* overhead: ``Explorer.run()`` on ``models/shop.py`` against the in-process
  demo shop (seeded bugs off), same seed and journeys, with a ``StoreWriter``
  subscribed on the ``EventBus`` ("on") and without ("off"). Runs alternate
  off/on, on/off, ... and the median of each side is compared. ``bus.close()``
  (the writer's last flush and the merge of the run's segments) is timed
  apart from the walk. On a small shared machine the walk's speed varies more
  than 5% from run to run, so the script also adds up the store's own time in
  the walk (``handle()`` on the walk's thread, ``flush()`` CPU on the flusher
  thread). Target: the store costs the walk under 5%.
* writer: a synthetic stream of ``StepFinished`` events (built before the
  clock starts) fed through ``StoreWriter.handle`` with its normal background
  flushing, then ``close()``. Reports rows/s for the ``handle()`` loop alone
  (the walk's hot path) and end to end until ``close()`` returns (every row
  on disk, the run merged), and checks through ``engine.store.connect`` that
  every row arrived.
* query: 10 million synthetic step rows written with pyarrow in the store's
  layout (10 runs, one merged file each, 30 days of ``finished_at``), then a
  failure-trend query and a latency-percentile query (three ``quantile_cont``
  calls as ``journeys report`` writes it, and one call with a list) through
  the store's views, next to the same queries on ``read_parquet`` over the
  same files (no views) as a baseline. ``--covered`` times the views again
  with each merged file's covered segments still on disk. Target: under 1 s.

Needs numpy (for the synthetic rows of the query part; it comes with the
``notebooks`` extra). Temporary stores go under /tmp and are deleted at the end.

Run from the repository root:  .venv/bin/python bench/store_speed.py [--only overhead|writer|query]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import attrs
import duckdb
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout, installed or not

from engine.events import EventBus, Notice, RunFinished, RunStarted, StepFinished
from engine.walk.explorer import Explorer, ExploreSettings
from engine.model.loader import load_model
from engine.records import CheckRecord, RequestRecord, StepRecord
from engine.store import StoreLayout, StoreWriter, connect
from engine.store.layout import write_atomically
from engine.store.schema import TABLES, timestamp

MODEL = ROOT / "models" / "shop.py"
WALK_TARGET_PCT = 5.0
QUERY_TARGET_S = 1.0
STEPS_PER_JOURNEY = 25
QUERY_RUNS = 10
QUERY_DAYS = 30
QUERY_REPEATS = 3

# The shop's actions as they show up in the steps table: (name, weight, from, to, method,
# path template, status when it passes, typical latency in ms, checks it can fail).
ACTIONS = [
    ("sign_up", 1, "anonymous", "signed_in", "POST", "/api/signup", 201, 9.0,
     ("status is 201", "field email == ...")),
    ("log_in", 1, "anonymous", "signed_in", "POST", "/api/login", 200, 7.0, ("status is 200",)),
    ("log_in_to_deleted_account", 1, "anonymous", "anonymous", "POST", "/api/login", 401, 6.0,
     ("a deleted account cannot log in",)),
    ("log_out", 1, "signed_in", "anonymous", "POST", "/api/logout", 204, 3.0, ("status is 204",)),
    ("delete_account", 1, "signed_in", "anonymous", "DELETE", "/api/account", 204, 5.0,
     ("status is 204",)),
    ("browse_catalogue", 1, "anonymous", "anonymous", "GET", "/api/products", 200, 4.0,
     ("the catalogue is not empty",)),
    ("read_recent_reviews", 1, "anonymous", "anonymous", "GET", "/api/reviews", 200, 4.5, ("status is 200",)),
    ("add_to_cart", 3, "signed_in", "has_cart", "POST", "/api/cart/items", 201, 6.0,
     ("status is 201", "the subtotal grows by the line added")),
    ("remove_from_cart", 3, "has_cart", "has_cart", "DELETE", "/api/cart/items/{item_id}", 204, 5.0,
     ("status is 204",)),
    ("apply_coupon", 3, "has_cart", "has_cart", "POST", "/api/cart/coupon", 200, 5.5,
     ("an unknown coupon is refused", "a coupon below its minimum spend is refused")),
    ("view_cart", 1, "has_cart", "has_cart", "GET", "/api/cart", 200, 3.5, ("money amounts are never negative",)),
    ("checkout", 3, "has_cart", "ordered", "POST", "/api/checkout", 201, 14.0,
     ("the order costs what the cart said", "no server errors")),
    ("view_order", 3, "ordered", "ordered", "GET", "/api/orders/{order_id}", 200, 4.0,
     ("an order is visible to its owner only",)),
    ("cancel_order", 1, "ordered", "ordered", "POST", "/api/orders/{order_id}/cancel", 200, 6.5,
     ("only the owner can cancel an order", "an order is cancelled once")),
    ("order_history", 1, "signed_in", "signed_in", "GET", "/api/orders", 200, 5.0,
     ("order history lists only my orders",)),
    ("post_review", 1, "signed_in", "signed_in", "POST", "/api/reviews", 201, 7.5,
     ("a review keeps its text as written", "no server errors")),
]

TREND_SQL = """
    SELECT date_trunc('day', finished_at) AS day, action, failed_check, count(*) AS failed
    FROM {steps} WHERE outcome = 'failed'
    GROUP BY ALL ORDER BY day, action, failed_check"""
LATENCY_SQL = """
    SELECT action, count(*) AS steps, quantile_cont(latency_ms, 0.5) AS p50_ms,
           quantile_cont(latency_ms, 0.95) AS p95_ms, quantile_cont(latency_ms, 0.99) AS p99_ms
    FROM {steps} GROUP BY action ORDER BY p95_ms DESC, action"""
# The same percentiles from one quantile_cont call with a list: one sort per group instead of three.
LATENCY_LIST_SQL = """
    SELECT action, count(*) AS steps, quantile_cont(latency_ms, [0.5, 0.95, 0.99]) AS p50_p95_p99_ms
    FROM {steps} GROUP BY action ORDER BY p50_p95_p99_ms[2] DESC, action"""
QUERIES = (("failure trend (failed steps per day, action, check)", TREND_SQL),
           ("latency p50/p95/p99 per action (3 quantile_cont)", LATENCY_SQL),
           ("latency p50/p95/p99 per action (1 quantile_cont, list)", LATENCY_LIST_SQL))


def rate(count: float, seconds: float) -> str:
    return f"{count / seconds:,.0f}" if seconds > 0 else "inf"


# --- 1. store overhead on the walk ---------------------------------------------------------------
class Notices:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def handle(self, event) -> None:
        if isinstance(event, Notice):
            self.messages.append(event.message)


class TimedStoreWriter(StoreWriter):
    """A ``StoreWriter`` that adds up its own time: ``handle()`` on the walk's thread, and the CPU
    time of ``flush()`` on the thread that runs it (the background flusher during the walk)."""

    def __init__(self, *args, **kwargs) -> None:
        self.handle_s = self.flush_cpu_s = 0.0  # before the flusher thread starts
        self.flushes = 0
        super().__init__(*args, **kwargs)

    def handle(self, event) -> None:
        started = time.perf_counter()
        super().handle(event)
        self.handle_s += time.perf_counter() - started

    def flush(self) -> int:
        started = time.thread_time()
        try:
            return super().flush()
        finally:
            self.flush_cpu_s += time.thread_time() - started
            self.flushes += 1


def walk(journeys: int, seed: int, store: Path | None) -> dict:
    """One ``Explorer.run()`` on a fresh in-process demo shop, with or without a store writer."""
    from engine.http.client import open_target, preflight

    model = load_model(str(MODEL))
    notices = Notices()
    bus = EventBus([notices])
    writer = TimedStoreWriter(store) if store is not None else None  # set up before the clock starts
    if writer is not None:
        bus.subscribe(writer)
    settings = ExploreSettings(journeys=journeys, max_steps=STEPS_PER_JOURNEY, seed=seed, database=None, replays=5)
    opened = open_target("demo", seed=seed, demo_bugs=False)
    try:
        preflight(opened)
        explorer = Explorer(model, opened, bus, settings)
        gc.collect()  # every walk starts from a clean heap: the last walk's garbage is not its to collect
        cpu = time.thread_time()  # the walk's own thread: what it waited for is wall - cpu
        started = time.perf_counter()
        finished = explorer.run()
        walked = time.perf_counter() - started
        cpu = time.thread_time() - cpu
        own = (writer.handle_s, writer.flush_cpu_s, writer.flushes) if writer is not None else None
        bus.close()  # the writer's final flush and the merge of the run's segments
        closed = time.perf_counter() - started - walked
    finally:
        opened.close()
    result = {"steps": finished.steps, "journeys": finished.journeys, "walk": walked, "close": closed,
              "waited": max(0.0, walked - cpu), "failures": finished.failures, "notices": notices.messages, "run_id": explorer.run_id}
    if writer is not None:
        if writer.errors:
            raise SystemExit(f"store_speed: the store writer failed: {writer.errors}")
        result["store"] = store
        result["handle_s"], result["flush_cpu_s"], result["flushes"] = own
    return result


def check_walk_store(result: dict) -> None:
    """The store of a walk holds one steps row per step of its run (checked after all the walks)."""
    connection = connect(result["store"])
    stored = connection.execute("SELECT count(*) FROM steps WHERE run_id = ?", [result["run_id"]]).fetchone()[0]
    connection.close()
    if stored != result["steps"]:
        raise SystemExit(f"store_speed: the store holds {stored} step rows for a run of {result['steps']} steps")


def measure_overhead(journeys: int, pairs: int, seed: int, scratch: Path) -> tuple[list, list]:
    runs: dict[str, list[dict]] = {"off": [], "on": []}
    warm_up = min(journeys, 20)
    print(f"  overhead: warm-up walk ({warm_up} journeys, store on, not counted)...", end="", flush=True)
    result = walk(warm_up, seed, scratch / "warm-up")  # imports and first-call costs land here
    shutil.rmtree(scratch / "warm-up", ignore_errors=True)
    print(f" {result['walk']:.1f}s")
    for pair in range(pairs):
        order = ("off", "on") if pair % 2 == 0 else ("on", "off")  # ABBA: a drifting machine hurts both
        for side in order:
            store = scratch / f"walk-{pair}" if side == "on" else None
            print(f"  overhead: pair {pair + 1}/{pairs}, store {side}...", end="", flush=True)
            result = walk(journeys, seed, store)
            runs[side].append(result)
            closing = f" + close {result['close']:.2f}s" if side == "on" else ""
            own = (f"; store's own time: handle() {result['handle_s'] * 1000:.0f} ms, "
                   f"flush CPU {result['flush_cpu_s'] * 1000:.0f} ms in {result['flushes']} flushes"
                   if side == "on" else "")
            print(f" {result['steps']} steps in {result['walk']:.1f}s{closing}, waited {result['waited']:.2f}s "
                  f"({result['steps'] / result['walk']:.1f} steps/s){own}")
    for result in runs["on"]:  # after the walks, so no walk follows a DuckDB query and another does not
        check_walk_store(result)
        shutil.rmtree(result["store"], ignore_errors=True)

    def rates(side: str, with_close: bool = False) -> list[float]:
        return [r["steps"] / (r["walk"] + (r["close"] if with_close else 0.0)) for r in runs[side]]

    def added(off: float, on: float) -> str:  # the walk time the store adds, from two rates
        return f"{(off / on - 1) * 100:+.1f}%"

    def verdict(off: float, on: float) -> str:
        return f"< {WALK_TARGET_PCT:.0f}% " + ("ok" if (off / on - 1) * 100 < WALK_TARGET_PCT else "MISSED")

    off, on, on_closed = (statistics.median(rates(side, closed)) for side, closed
                          in (("off", False), ("on", False), ("on", True)))
    best_off, best_on = max(rates("off")), max(rates("on"))
    # Each pair ran back to back, so it shares the machine's mood of the moment: the ratio within a
    # pair is steadier than the ratio of two medians taken from different moments.
    pair_ratio = statistics.median(a / b for a, b in zip(rates("off"), rates("on")))
    spread_off, spread_on = (max(rates(side)) / min(rates(side)) - 1 for side in ("off", "on"))
    close_s = statistics.median(r["close"] for r in runs["on"])
    handle_s = statistics.median(r["handle_s"] for r in runs["on"])
    flush_s = statistics.median(r["flush_cpu_s"] for r in runs["on"])
    own = statistics.median((r["handle_s"] + r["flush_cpu_s"]) / r["walk"] * 100 for r in runs["on"])
    waited_off, waited_on = (statistics.median(r["waited"] for r in runs[side]) for side in ("off", "on"))
    rows = [
        (f"walk steps/s, median of {pairs}", f"{on:.1f}", f"{off:.1f} (store off)", f"{on / off:.3f}", ""),
        (f"walk steps/s, best of {pairs}", f"{best_on:.1f}", f"{best_off:.1f} (store off)",
         f"{best_on / best_off:.3f}", ""),
        ("walk time added, from the medians", added(off, on), "", "", verdict(off, on)),
        ("walk time added, from the bests", added(best_off, best_on), "", "", verdict(best_off, best_on)),
        ("walk time added, median of the pairs", added(pair_ratio, 1.0), "", "", verdict(pair_ratio, 1.0)),
        ("steps/s incl. bus.close(), median", f"{on_closed:.1f}", f"{off:.1f} (store off)",
         f"{on_closed / off:.3f}", ""),
        ("time added incl. bus.close(), medians", added(off, on_closed), "", "", ""),
        ("bus.close() (flush + merge), median", f"{close_s * 1000:.0f} ms", "", "", ""),
        ("run-to-run spread (fastest/slowest)", f"{spread_on * 100:.0f}%", f"{spread_off * 100:.0f}% (store off)",
         "", ""),
        ("store's own time / walk time, median", f"{own:.2f}%", "", "",
         f"< {WALK_TARGET_PCT:.0f}% " + ("ok" if own < WALK_TARGET_PCT else "MISSED")),
        ("  handle() on the walk's thread", f"{handle_s * 1000:.0f} ms", "", "", ""),
        ("  flush() CPU on the flusher thread", f"{flush_s * 1000:.0f} ms", "", "", ""),
        ("walk thread waiting (wall - its CPU)", f"{waited_on * 1000:.0f} ms",
         f"{waited_off * 1000:.0f} ms (store off)", "", ""),
    ]
    per_pair_cost = [(a / b - 1) * 100 for a, b in zip(rates("off"), rates("on"))]
    steps = {r["steps"] for side in runs.values() for r in side}
    remarks = [f"overhead: {journeys} journeys x {STEPS_PER_JOURNEY} max steps, seed {seed}; "
               f"steps per run: {sorted(steps)}; time added per pair (run order off/on, on/off, ...): "
               + ", ".join(f"{c:+.1f}%" for c in per_pair_cost)
               + "; a cost smaller than the run-to-run spread is below what the walk figures can resolve"]
    if len(steps) != 1:
        remarks.append("overhead: the runs did not all walk the same number of steps; rates still compare")
    for side, results in runs.items():
        for result in results[:1]:
            for failure in result["failures"]:
                remarks.append(f"overhead: store {side}: engine reported a failure ({failure.kind}): "
                               f"{failure.fingerprint}")
            remarks += [f"overhead: store {side}: notice: {message}" for message in result["notices"]]
    return rows, remarks


# --- 2. writer throughput -------------------------------------------------------------------------
def synthetic_events(count: int, run_id: str, started_at: float) -> list[StepFinished]:
    """``count`` StepFinished events built from a few prebuilt step records (~3% failed)."""
    auth = {"authorization": "Bearer 3q2+7w==.eyJzdWIiOjQyfQ", "content-type": "application/json"}
    records: list[tuple[StepRecord, StepRecord]] = []  # per (action, step index): passed, failed
    for action, _, source, target, method, template, status, latency, checks in ACTIONS:
        path = template.replace("{item_id}", "17").replace("{order_id}", "ord_5f3a")
        request = RequestRecord(
            method=method, template=template, path=path, params=None,
            json={"product_id": "p-3", "quantity": 2} if method == "POST" else None, headers=auth,
            status=status, response_json={"id": "ord_5f3a", "total": 4200, "items": [{"sku": "p-3"}]},
            response_text='{"id": "ord_5f3a", "total": 4200, "items": [{"sku": "p-3"}]}', response_bytes=61,
            elapsed_ms=latency * 0.9)
        bad_request = attrs.evolve(request, status=500)
        passed = CheckRecord(name=checks[0], kind="status", passed=True, expected=[status], actual=status,
                             message="", response=0)
        invariant = CheckRecord(name="no server errors", kind="status_below", passed=True, expected=500,
                                actual=status, message="", response=0, source="invariant")
        failed = CheckRecord(name=checks[-1], kind="status", passed=False, expected=[status], actual=500,
                             message=f"expected status {status}, got 500", response=0)
        for index in range(STEPS_PER_JOURNEY):
            common = {"index": index, "actor": "alice" if index % 3 else "bob", "action": action,
                      "source": source, "data": {"quantity": 2}, "duration_ms": latency}
            records.append((
                StepRecord(**common, target=target, requests=(request,), checks=(passed, invariant),
                           outcome="passed"),
                StepRecord(**common, target=source, requests=(bad_request,), checks=(failed,),
                           outcome="failed")))
    events = []
    kinds = len(ACTIONS)
    for n in range(count):
        journey, index = divmod(n, STEPS_PER_JOURNEY)
        passed, failed = records[((n * 7 + journey) % kinds) * STEPS_PER_JOURNEY + index]
        events.append(StepFinished(run_id=run_id, at=started_at + n * 0.005, journey=journey + 1,
                                   phase="explore", step=failed if n % 37 == 0 else passed))
    return events


def measure_writer(count: int, scratch: Path) -> tuple[list, list]:
    folder = scratch / "writer"
    run_id = "benchwriter1"
    now = time.time()
    print(f"  writer: building {count:,} StepFinished events...", end="", flush=True)
    built = time.perf_counter()
    events = synthetic_events(count, run_id, now)
    print(f" {time.perf_counter() - built:.1f}s; writing...", end="", flush=True)
    run_started = RunStarted(run_id=run_id, at=now, model="shop", model_file=str(MODEL), target="synthetic",
                             seed=1, settings={"journeys": count // STEPS_PER_JOURNEY}, tool_version="bench",
                             edges=tuple((a[0], a[2], a[3]) for a in ACTIONS))
    run_finished = RunFinished(run_id=run_id, at=now + count * 0.005, journeys=count // STEPS_PER_JOURNEY,
                               shrink_journeys=0, steps=count, duration_s=count * 0.005, failures=(),
                               interrupted=False, stop_reason="bench")
    writer = StoreWriter(folder)  # folders and schema files: set up before the clock starts
    handle = writer.handle
    started = time.perf_counter()
    handle(run_started)
    for event in events:
        handle(event)
    handle(run_finished)
    hot = time.perf_counter() - started
    writer.close()
    total = time.perf_counter() - started
    print(f" handle() {hot:.1f}s, until close() returned {total:.1f}s")
    del events

    connection = connect(folder)
    stored = connection.execute("SELECT count(*) FROM steps WHERE run_id = ?", [run_id]).fetchone()[0]
    failed = connection.execute("SELECT count(*) FROM steps WHERE outcome = 'failed'").fetchone()[0]
    connection.close()
    if stored != count or writer.errors:
        raise SystemExit(f"store_speed: writer: the store holds {stored:,} step rows, expected {count:,}; "
                         f"writer errors: {writer.errors}")
    layout = StoreLayout(folder)
    flushes = max((f.hi for f in layout.data_files("steps")), default=0)
    live = layout.live_files("steps")
    size = sum(f.path.stat().st_size for f in live)
    rows = [
        ("handle() rows/s (walk's hot path)", rate(count, hot), "", "", ""),
        ("end-to-end rows/s, until close()", rate(count, total), "", "", ""),
        ("close(): last flush + merge", f"{(total - hot) * 1000:,.0f} ms", "", "", ""),
    ]
    remarks = [(f"writer: {count:,} StepFinished events (1 request each, {failed:,} failed) in {hot:.2f}s of "
                f"handle() and {total:.2f}s until close() returned; {flushes} steps segment(s) flushed, "
                f"merged into {len(live)} file(s) of {size / 1e6:.1f} MB; store check: {stored:,} rows")]
    return rows, remarks


# --- 3. query speed ------------------------------------------------------------------------------
def synthetic_steps(rng, rows: int, run_id: str, start: dt.datetime, span_s: float) -> pa.Table:
    """``rows`` step rows of one run, finished_at spread evenly over ``span_s`` seconds from ``start``."""
    import numpy as np

    weights = np.array([a[1] for a in ACTIONS], dtype=float)
    action = rng.choice(len(ACTIONS), size=rows, p=weights / weights.sum())

    def by_action(column: int) -> pa.Array:
        return pa.array([a[column] for a in ACTIONS]).take(action)

    n = np.arange(rows)
    failed = rng.random(rows) < 0.03
    # The failed check: one of the action's own checks, or an invariant now and then.
    check_names = sorted({c for a in ACTIONS for c in a[8]} | {"no server errors", "money amounts are never negative"})
    check_of = {name: i for i, name in enumerate(check_names)}
    own = np.array([[check_of[a[8][0]], check_of[a[8][-1]]] for a in ACTIONS])
    pick = own[action, rng.integers(0, 2, rows)]
    pick = np.where(rng.random(rows) < 0.15, check_of["no server errors"], pick)
    failed_check = pa.array(check_names).take(pa.array(pick, mask=~failed))
    status = np.array([a[6] for a in ACTIONS], dtype=np.int32)[action]
    status = np.where(failed, np.where(pick == check_of["no server errors"], 500, 422), status).astype(np.int32)
    base = np.array([a[7] for a in ACTIONS])[action]
    latency = base * rng.lognormal(0.0, 0.45, rows)
    start_us = int(start.timestamp() * 1_000_000)
    finished = start_us + np.sort(rng.integers(0, int(span_s * 1_000_000), rows))
    template = by_action(5)
    has_id = pc.match_substring(template, "{")
    ids = pc.cast(pa.array(rng.integers(1, 100_000, rows)), pa.string())
    path = pc.if_else(has_id, pc.binary_join_element_wise(
        pc.replace_substring_regex(template, r"\{[a-z_]+\}.*$", ""), ids, ""), template)
    phase = pa.array(["explore", "shrink", "replay"]).take(rng.choice(3, size=rows, p=[0.96, 0.03, 0.01]))
    columns = {
        "run_id": pa.array([run_id]).take(np.zeros(rows, dtype=np.int64)),
        "journey": pa.array(n // STEPS_PER_JOURNEY + 1),
        "phase": phase,
        "step": pa.array((n % STEPS_PER_JOURNEY).astype(np.int32)),
        "finished_at": pa.array(finished).cast(timestamp),
        "actor": pa.array(["alice", "bob"]).take(rng.integers(0, 2, rows)),
        "action": by_action(0),
        "from_state": by_action(2),
        "to_state": pc.if_else(pa.array(failed), by_action(2), by_action(3)),
        "method": by_action(4),
        "path_template": template,
        "path": path,
        "status": pa.array(status),
        "requests": pa.array(np.where(rng.random(rows) < 0.01, 2, 1).astype(np.int32)),
        "bytes": pa.array(rng.integers(40, 6000, rows)),
        "latency_ms": pa.array(latency),
        "http_ms": pa.array(latency * 0.92),
        "outcome": pa.array(np.where(failed, "failed", "passed")),
        "failed_check": failed_check,
        "error": pa.nulls(rows, pa.string()),
        # A failed step's fingerprint stands for its action and check (null when it passed).
        "fingerprint": pc.binary_join_element_wise(by_action(0), failed_check, ":"),
        "rate_wait_ms": pa.array(np.zeros(rows)),
    }
    schema = TABLES["steps"]
    return pa.Table.from_arrays([columns[name].cast(field.type) for name, field in zip(schema.names, schema)],
                                schema=schema)


def write_query_store(folder: Path, rows: int) -> tuple[float, float]:
    """``rows`` step rows in ``QUERY_RUNS`` merged files of the store's layout; seconds, bytes."""
    import numpy as np

    layout = StoreLayout(folder)
    layout.ensure()
    rng = np.random.default_rng(20240601)
    first_day = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    span = QUERY_DAYS * 86400 / QUERY_RUNS
    per_run = [rows // QUERY_RUNS + (1 if k < rows % QUERY_RUNS else 0) for k in range(QUERY_RUNS)]
    started = time.perf_counter()
    size = 0
    for k, count in enumerate(per_run):
        if count == 0:
            continue
        run_id = f"{k:02d}bench{rng.integers(0, 16**5):05x}"
        table = synthetic_steps(rng, count, run_id, first_day + dt.timedelta(seconds=k * span), span)
        # A run that flushed every 2 s at ~160 steps/s, then merged its segments: <run>~000001-00NNNN.
        path = layout.data_path("steps", run_id, 1, max(1, count // 320))
        write_atomically(table, path)
        size += path.stat().st_size
    return time.perf_counter() - started, size


def add_covered_segments(folder: Path) -> int:
    """Next to each merged file, the two segments it covers (one more copy of every row), as a
    store holds them until ``collect_garbage`` deletes them (``SEGMENT_GRACE_S`` after the merge,
    at the next writer's start or close). The views must skip them; the number of files added."""
    import pyarrow.parquet as pq

    layout = StoreLayout(folder)
    added = 0
    for merged in layout.live_files("steps"):
        table = pq.read_table(merged.path)
        half, middle = table.num_rows // 2, (merged.lo + merged.hi) // 2
        if merged.hi == merged.lo:
            continue
        write_atomically(table.slice(0, half), layout.data_path("steps", merged.run, merged.lo, middle))
        write_atomically(table.slice(half), layout.data_path("steps", merged.run, middle + 1, merged.hi))
        added += 2
    return added


def time_query(connection: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[float], list]:
    times, result = [], []
    for _ in range(QUERY_REPEATS):
        started = time.perf_counter()
        result = connection.execute(sql).fetchall()
        times.append(time.perf_counter() - started)
    return times, result


def measure_query(rows: int, scratch: Path, covered: bool) -> tuple[list, list]:
    folder = scratch / "query"
    print(f"  query: writing {rows:,} step rows...", end="", flush=True)
    written, size = write_query_store(folder, rows)
    print(f" {written:.1f}s ({size / 1e6:.0f} MB); querying...", end="", flush=True)
    views = connect(folder)
    direct = duckdb.connect(":memory:")
    files = "read_parquet('" + str((folder / "steps").resolve() / "*.parquet").replace("'", "''") + "')"
    threads = views.execute("SELECT current_setting('threads')").fetchone()[0]

    def check_total() -> None:
        total = views.execute("SELECT count(*) FROM steps").fetchone()[0]
        if total != rows:
            raise SystemExit(f"store_speed: query: the store's views hold {total:,} step rows, expected {rows:,}")

    check_total()
    table, remarks, baselines = [], [], {}
    remarks.append(f"query: {rows:,} step rows in {QUERY_RUNS} merged files ({size / 1e6:.0f} MB zstd, "
                   f"{QUERY_DAYS} days, ~3% failed), written in {written:.1f}s; DuckDB {duckdb.__version__}, "
                   f"{threads} thread(s)")

    def add_rows(label: str, view_times: list[float], direct_times: list[float]) -> None:
        best, median = min(view_times), statistics.median(view_times)
        direct_best, direct_median = min(direct_times), statistics.median(direct_times)
        verdict = "ok" if best < QUERY_TARGET_S else "MISSED"
        table.extend([
            (f"{label}, best of {QUERY_REPEATS}", f"{best:.3f} s", f"{direct_best:.3f} s (read_parquet)",
             f"{best / direct_best:.2f}", f"< {QUERY_TARGET_S:.0f} s {verdict}"),
            (f"{label}, median", f"{median:.3f} s", f"{direct_median:.3f} s (read_parquet)",
             f"{median / direct_median:.2f}", ""),
        ])

    for label, sql in QUERIES:
        view_times, view_result = time_query(views, sql.format(steps="steps"))
        direct_times, direct_result = time_query(direct, sql.format(steps=files))
        if view_result != direct_result:
            raise SystemExit(f"store_speed: query {label!r}: the views and read_parquet disagree")
        baselines[label] = (direct_times, view_result)
        add_rows(label, view_times, direct_times)
        remarks.append(f"query: {label}: {len(view_result)} result rows; times through the views "
                       + ", ".join(f"{t:.3f}" for t in view_times) + " s; read_parquet "
                       + ", ".join(f"{t:.3f}" for t in direct_times) + " s")
    if covered:
        print(" covered segments...", end="", flush=True)
        added = add_covered_segments(folder)
        check_total()
        for label, sql in QUERIES:
            view_times, view_result = time_query(views, sql.format(steps="steps"))
            direct_times, direct_result = baselines[label]
            if view_result != direct_result:
                raise SystemExit(f"store_speed: query {label!r}: covered segments changed the views' answer")
            add_rows(f"{label}, covered segments on disk", view_times, direct_times)
        remarks.append(f"query: covered: {added} covered segments added (one more copy of every row, as "
                       "before garbage collection); baseline = read_parquet over the merged files only, "
                       "timed before they were added")
    views.close()
    direct.close()
    print(" done")
    return table, remarks


# --- the report ----------------------------------------------------------------------------------
def print_table(sections: list[tuple[str, list]]) -> None:
    header = ("figure", "store", "baseline", "ratio", "target")
    rows = [row for _, section in sections for row in section]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]

    def line(cells) -> str:
        return "  ".join(cell.ljust(width) if i in (0, 2, 4) else cell.rjust(width)
                         for i, (cell, width) in enumerate(zip(cells, widths))).rstrip()

    print(line(header))
    for title, section in sections:
        print(f"[{title}]")
        for row in section:
            print(line(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--journeys", type=int, default=200, help="journeys per walk (default 200)")
    parser.add_argument("--pairs", type=int, default=3, help="store off/on pairs of walks (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="engine and demo seed (default 1)")
    parser.add_argument("--steps", type=int, default=1_000_000, help="writer: StepFinished events (default 1,000,000)")
    parser.add_argument("--rows", type=int, default=10_000_000, help="query: step rows (default 10,000,000)")
    parser.add_argument("--only", choices=("overhead", "writer", "query"), help="run one part only")
    parser.add_argument("--covered", action="store_true",
                        help="query: also time the views with each merged file's covered segments still on disk")
    args = parser.parse_args()
    for name in ("journeys", "pairs", "steps", "rows"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    parts = (args.only,) if args.only else ("overhead", "writer", "query")

    print(f"store_speed: {', '.join(parts)}; Python {sys.version.split()[0]}, DuckDB {duckdb.__version__}, "
          f"pyarrow {pa.__version__}, {os.cpu_count()} CPU(s)")
    scratch = Path(tempfile.mkdtemp(prefix="store_speed-", dir="/tmp"))
    sections, remarks = [], []
    started = time.perf_counter()
    try:
        if "overhead" in parts:
            rows, notes = measure_overhead(args.journeys, args.pairs, args.seed, scratch)
            title = f"store overhead on the walk: in-process demo, {args.journeys} journeys, {args.pairs} off/on pairs"
            sections.append((title, rows))
            remarks += notes
        if "writer" in parts:
            rows, notes = measure_writer(args.steps, scratch)
            sections.append((f"writer throughput: {args.steps:,} StepFinished events", rows))
            remarks += notes
        if "query" in parts:
            rows, notes = measure_query(args.rows, scratch, args.covered)
            sections.append((f"query speed: {args.rows:,} step rows, through the store's views", rows))
            remarks += notes
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print()
    print_table(sections)
    print()
    print("ratio = store / baseline (for steps/s, below 1 means slower; for times, above 1 means slower).")
    for remark in remarks:
        print(f"  {remark}")
    print(f"  total bench time {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
