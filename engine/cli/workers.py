"""``explore --workers N``: N processes walking at once, one cap, one store, one set of failures.

Against a real service every step waits on the network, so one walker does a few steps a second.
The parent starts N ``journeys explore`` processes with the same command line, each with a seed
of its own and ``--worker GROUP:I/N:FOLDER``, which makes it

- take its requests from a rate cap it shares with the others (``engine.http.shared_rate``),
- claim a failure before it investigates it (``engine.walk.claims``): a bug two workers meet is
  shrunk, replayed and reported once, and the store counts the occurrences of both,
- read the failures the others stored every few seconds (they are known from then on),
- print only what it finds (the parent prefixes each line with the worker's number), and no
  status line or summary of its own.

The parent has already checked the command line, loaded the model and asked the target once
(pre-flight), so a bad option is one usage error, not N. It shows one status line summed over the
workers (from the heartbeat file each keeps in FOLDER), forwards the first Ctrl-C or SIGTERM to all
of them (each finishes its step and its journey's clean-ups) and a second one too (each stops at
once), and prints one summary from their JSON reports. The exit code is 2 if a worker met a usage
or configuration error, else 1 if any failure was found, else 0 (130 if stopped before one was).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import click
from rich.console import Console
from rich.live import Live
from rich.text import Text

from engine.cli.terminal import TerminalView
from engine.events import OutageEnded, RunFinished
from engine.failures.stored import load_failure
from engine.http.shared_rate import is_redis_url
from engine.walk.claims import Claims, RedisClaims

__all__ = ["run_workers", "worker_argv", "WorkerSpec", "parse_worker", "shard_spec"]

BEAT_S = 1.0  # how often each worker writes its heartbeat for the parent's status line


class WorkerSpec:
    """What ``--worker GROUP:I/N:FOLDER`` tells a worker process, or ``--shard I/N --group G`` a shard.

    A shard is started by a scheduler, not by a parent: it asks the target itself (pre-flight) and
    prints its own status line and summary. With ``redis`` (a URL) its cap and claims live there,
    shared across machines; without, in ``folder`` (``<store>/workers/<group>``), shared by the
    processes of one machine."""

    def __init__(self, group: str, index: int, count: int, folder: str, *, redis: str | None = None,
                 shard: bool = False) -> None:
        self.group, self.index, self.count, self.folder = group, index, count, folder
        self.redis, self.shard = redis, shard

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def name(self) -> str:
        return f"{'s' if self.shard else 'w'}{self.index}"

    @property
    def rate_state(self) -> str:
        if self.redis:
            return f"{self.redis.partition('#')[0]}#journeys:rate:{self.group}"
        return os.path.join(self.folder, "rate.state")

    def examples_database(self, local: str) -> str:
        """Where the example database lives: Redis across machines (``--redis``), else ``local``."""
        return f"{self.redis.partition('#')[0]}#journeys:examples:" if self.redis else local

    def claims(self):
        if self.redis:
            return RedisClaims(self.redis, group=self.group, worker=self.name)
        return Claims(os.path.join(self.folder, "claims"), worker=self.name)


def shard_spec(shard: str | None, group: str | None, redis: str | None, store_root: Path) -> WorkerSpec | None:
    """``--shard I/N --group NAME [--redis URL]``, checked: a usage error names what is wrong."""
    if shard is None:
        if group or redis:
            raise click.UsageError("--group and --redis go with --shard I/N (one piece of a run started by a "
                                   "scheduler); --workers N needs neither")
        return None
    index, _, count = shard.partition("/")
    if not (index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise click.UsageError(f"--shard {shard!r}: write I/N with 1 <= I <= N (e.g. --shard 2/4)")
    if not group:
        raise click.UsageError("--shard needs --group NAME: the name every piece of the run is given (the job's name)")
    if redis and not is_redis_url(redis):
        raise click.UsageError(f"--redis {redis!r}: write redis://HOST:PORT/DB (or rediss:// for TLS)")
    if redis and importlib.util.find_spec("redis") is None:
        raise click.UsageError("--redis needs the redis client: pip install 'journeys[redis]'")
    return WorkerSpec(group, int(index), int(count), str(store_root / "workers" / group), redis=redis, shard=True)


def parse_worker(text: str) -> WorkerSpec:
    group, _, rest = text.partition(":")
    which, _, folder = rest.partition(":")
    index, _, count = which.partition("/")
    if not (group and folder and index.isdigit() and count.isdigit()):
        raise click.BadParameter(f"{text!r}: the form is GROUP:I/N:FOLDER (set by --workers, not by hand)")
    return WorkerSpec(group, int(index), int(count), folder)


def worker_argv(argv: list[str], *, index: int, spec: str, folder: Path, seed: int,
                journeys: int | None) -> list[str]:
    """The worker's command line: the user's, without ``--workers``, with the worker's own settings last
    (a repeated option's last value wins)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--workers":
            skip = True
            continue
        if arg.startswith("--workers="):
            continue
        kept.append(arg)
    share = ["--journeys", str(journeys)] if journeys else []
    return [sys.executable, "-m", "engine.cli", *kept, *share, "--seed", str(seed),
            "--worker", spec,
            "--heartbeat", str(folder / f"w{index}.heartbeat.json"), "--heartbeat-every", f"{BEAT_S:g}s",
            "--json", str(folder / f"w{index}.report.json")]


def _pump(stream: IO[str], prefix: str, out: Console, lock: threading.Lock) -> None:
    for line in iter(stream.readline, ""):
        with lock:
            out.print(Text(prefix, style="dim") + Text.from_ansi(line.rstrip("\n")), highlight=False, soft_wrap=True)
    stream.close()


class _Status:
    """The parent's status line: the workers' heartbeats summed."""

    def __init__(self, folder: Path, count: int, budget: str) -> None:
        self.folder, self.count, self.budget = folder, count, budget
        self.started = time.monotonic()

    def beats(self) -> list[dict[str, Any]]:
        found = []
        for index in range(1, self.count + 1):
            try:
                found.append(json.loads((self.folder / f"w{index}.heartbeat.json").read_text(encoding="utf-8")))
            except (OSError, ValueError):
                pass  # not written yet, or being replaced this instant
        return found

    def totals(self) -> dict[str, Any]:
        beats = self.beats()
        return {"workers": self.count, "journeys": sum(b.get("journeys", 0) for b in beats),
                "steps": sum(b.get("steps", 0) for b in beats), "failures": sum(b.get("failures", 0) for b in beats),
                "outages": sum(b.get("outages", 0) for b in beats), "pace": next((b["pace"] for b in beats
                                                                                  if b.get("pace")), None),
                "states": [b.get("state") for b in beats]}

    def write(self, path: str, running: int) -> None:
        """The user's --heartbeat: the workers' heartbeats summed (each worker keeps its own in the folder)."""
        if time.monotonic() - getattr(self, "_written", 0.0) < BEAT_S and running:
            return
        self._written = time.monotonic()
        uptime = time.monotonic() - self.started
        totals = self.totals()
        document = {**totals, "running": running, "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "uptime_s": round(uptime, 1), "steps_per_s": round(totals["steps"] / max(uptime, 1e-6), 1),
                    "finished": running == 0}
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=1)
        os.replace(temporary, path)

    def line(self, running: int) -> Text:
        beats = self.beats()
        journeys = sum(b.get("journeys", 0) for b in beats)
        steps = sum(b.get("steps", 0) for b in beats)
        failures = sum(b.get("failures", 0) for b in beats)
        elapsed = max(time.monotonic() - self.started, 1e-6)
        pace = next((b["pace"] for b in beats if b.get("pace")), None)
        return Text.assemble((f"{running}/{self.count} workers", "bold"), " · ",
                             (f"{journeys}/{self.budget} journeys", "bold"), " · ", f"{steps:,} steps", " · ",
                             f"{steps / elapsed:,.0f} steps/s", " · ",
                             *((pace or "", "dim"), " · ") * bool(pace),
                             (f"{failures} failure(s) reported", "red" if failures else "green"), " · ",
                             (f"{elapsed:,.0f}s", "dim"))


def run_workers(count: int, argv: list[str], *, seed: int, folder: Path, journeys: int, forever: bool,
                duration: float | None, out_dir: str, json_path: str | None, heartbeat: str | None,
                shard: WorkerSpec | None = None) -> int:
    """Start the workers, watch them, stop them well on a signal; the summary; the exit code.

    In a piece of a sharded run (``--shard I/N --workers M``) the workers are pieces
    ``(I-1)*M+1 .. I*M`` of ``N*M``: they share the shard group's cap, claims (in Redis with
    ``--redis``) and failures with every other piece; ``folder`` holds only their reports and heartbeats.
    """
    folder.mkdir(parents=True, exist_ok=True)
    share = None if forever else -(-journeys // count)  # each worker's part of --journeys, rounded up
    budget = ("∞" if forever else str(share * count)) + (f" or {duration:g}s" if duration else "")
    group = shard.group if shard else folder.name
    console = Console(highlight=False)
    errors = Console(stderr=True, highlight=False)
    lock = threading.Lock()
    where = f"shard {shard.label} of run group {group}" if shard else f"run group {group}"
    console.print(f"[bold]journeys[/] {count} workers (seeds {seed}..{seed + count - 1}), one rate cap and "
                  f"one store; {where}")
    children: list[subprocess.Popen] = []
    pumps = []
    for index in range(1, count + 1):
        spec = (f"{group}:{(shard.index - 1) * count + index}/{shard.count * count}:{shard.folder}" if shard
                else f"{group}:{index}/{count}:{folder}")
        child = subprocess.Popen(worker_argv(argv, index=index, spec=spec, folder=folder,
                                             seed=seed + index - 1, journeys=share),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True,  # the parent alone hears Ctrl-C and passes it on
                                 env={**os.environ, "COLUMNS": str(max(console.width - len(f"[w{index}] "), 40))})
        children.append(child)
        for stream, out in ((child.stdout, console), (child.stderr, errors)):
            pump = threading.Thread(target=_pump, args=(stream, f"[w{index}] ", out, lock), daemon=True)
            pump.start()
            pumps.append(pump)
    signals = {"count": 0}

    def forward(number, frame) -> None:
        signals["count"] += 1
        name = signal.Signals(number).name
        how = "finishing their steps and clean-ups" if signals["count"] == 1 else "stopping at once"
        with lock:
            errors.print(f"journeys: {name}: {count} workers {how}")
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM if signals["count"] == 1 else signal.SIGINT)

    previous = {number: signal.signal(number, forward) for number in (signal.SIGINT, signal.SIGTERM)}
    status = _Status(folder, count, budget)
    live = Live(status.line(count), console=console, refresh_per_second=2, transient=True) \
        if console.is_terminal else None
    last_log = time.monotonic()
    try:
        if live is not None:
            live.start()
        while any(child.poll() is None for child in children):
            time.sleep(0.5)
            running = sum(child.poll() is None for child in children)
            if heartbeat:
                status.write(heartbeat, running)
            if live is not None:
                live.update(status.line(running))
            elif time.monotonic() - last_log >= 10:
                last_log = time.monotonic()
                with lock:
                    console.print(status.line(running))
    finally:
        if live is not None:
            live.stop()
        for number, handler in previous.items():
            signal.signal(number, handler)
    for pump in pumps:
        pump.join(timeout=5)
    codes = [child.returncode for child in children]
    if heartbeat:
        status.write(heartbeat, 0)
    code = _summary(console, folder, count, codes, out_dir=out_dir, json_path=json_path, interrupted=signals["count"] > 0)
    shutil.rmtree(folder, ignore_errors=True)  # claims and the cap's state belong to this run only
    return code


def _summary(console: Console, folder: Path, count: int, codes: list[int], *, out_dir: str,
             json_path: str | None, interrupted: bool) -> int:
    reports = []
    for index in range(1, count + 1):
        try:
            reports.append(json.loads((folder / f"w{index}.report.json").read_text(encoding="utf-8")))
        except (OSError, ValueError):
            pass  # the worker stopped before it finished (a usage error: its message is above)
    if 2 in codes or len(reports) < count:
        missing = [f"w{i + 1} (exit {c})" for i, c in enumerate(codes) if c not in (0, 1, 130)]
        click.echo(f"journeys: {len(reports)} of {count} workers finished" +
                   (f"; {', '.join(missing)} did not" if missing else ""), err=True)
        if 2 in codes:
            return 2
    failures, unique, seen = [], [], set()
    for report in reports:
        for data in report["failures"]:
            if data["id"] not in seen:  # claims make a repeat impossible; the summary stays right regardless
                seen.add(data["id"])
                unique.append(data)
                failures.append(load_failure(json.dumps(data))[0])
    known_met = tuple(dict.fromkeys(f for r in reports for f in r.get("known_met", ()) if f not in seen))
    outages = tuple(OutageEnded(run_id=r["run_id"], reason=o["reason"], started_at=o["started_at"],
                                ended_at=o["ended_at"], probes=o["probes"], journeys_discarded=0)
                    for r in reports for o in r.get("incidents", ()))
    finished = RunFinished(run_id=folder.name, journeys=sum(r["journeys"] for r in reports),
                           shrink_journeys=sum(r["shrink_journeys"] for r in reports),
                           steps=sum(r["steps"] for r in reports),
                           duration_s=max((r["duration_s"] for r in reports), default=0.0),
                           failures=tuple(failures), known_met=known_met,
                           regressed=tuple(dict.fromkeys(f for r in reports for f in r.get("regressed", ()))),
                           interrupted=interrupted or any(r["interrupted"] for r in reports),
                           stop_reason="; ".join(sorted({r["stop_reason"] for r in reports})) or "stopped",
                           outages=outages)
    view = TerminalView(console, reproductions_dir=out_dir)
    view.steps = finished.steps
    view.handle(finished)
    console.print(f"{count} workers: " + ", ".join(
        f"w{i} {r['journeys']} journeys, {r['steps'] / max(r['duration_s'], 1e-6):,.0f} steps/s, "
        f"{len(r['failures'])} reported" for i, r in enumerate(reports, 1)), style="dim")
    if json_path:
        Path(json_path).write_text(json.dumps({
            "group": folder.name, "workers": count, "journeys": finished.journeys,
            "shrink_journeys": finished.shrink_journeys, "steps": finished.steps,
            "duration_s": finished.duration_s, "interrupted": finished.interrupted,
            "failures": unique, "known_met": list(known_met),
            "runs": [{"run_id": r["run_id"], "seed": r["seed"], "journeys": r["journeys"], "steps": r["steps"],
                      "failures": [f["id"] for f in r["failures"]]} for r in reports],
        }, indent=1), encoding="utf-8")
    if finished.failures or known_met:
        return 1
    return 130 if finished.interrupted else 0
