"""What a person watching sees: live progress, new failures, and the summary.

A subscriber to the engine's events. On a terminal it keeps one live status
line (journeys, steps, steps/s, distinct failures); elsewhere (CI logs, files)
it prints a progress line every ``log_every_s`` seconds instead. At the end it
lists every distinct failure with its minimal reproduction as numbered steps.
Secrets (Authorization headers, passwords, tokens) are masked in what it shows.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode
from collections import Counter
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from engine.walk.coverage import UNBOUNDED_JOURNEYS
from engine.events import (CleanupFinished, Event, FailureFound, FailureRegressed, JourneyFinished, Notice,
                           OutageEnded, OutageStarted, RateChanged, ReplayFinished, RoundStarted, RunFinished,
                           RunStarted, StepFinished)
from engine.export.pytest_file import no_file, reproduction_path
from engine.failures.left_behind import describe
from engine.records import FAILURE_KINDS, Failure, StepRecord
from engine.redact import redact_data, redact_headers, redact_text

__all__ = ["TerminalView"]


class TerminalView:
    """Progress while exploring, and the summary at the end."""

    def __init__(self, console: Console | None = None, *, reproductions_dir: str | None = None,
                 log_every_s: float = 10.0, worker: bool = False) -> None:
        self.console = console or Console(stderr=False, highlight=False)
        self.worker = worker  # one of --workers: what it finds, no status line or summary (the parent's)
        self.reproductions_dir = reproductions_dir
        self.log_every_s = log_every_s
        self.live: Live | None = None
        self.started = time.monotonic()
        self.last_log = self.started
        self.budget = 0
        self.pace: str | None = None  # the cap now (--rate, or the schedule's window), on the status line
        self.explored = 0
        self.journeys = 0
        self.steps = 0
        self.edges: set[tuple[str, str]] = set()  # the model's, from RunStarted
        self.taken: set[tuple[str, str]] = set()  # edges exploring journeys took
        self.failures: list[Failure] = []
        self.phase = "exploring"
        self.cleanups = Counter()  # clean-up requests: "ok" and "failed"

    # --- events ---------------------------------------------------------------------------
    def handle(self, event: Event) -> None:
        if isinstance(event, StepFinished):
            self.steps += 1
            if event.phase == "explore":
                self.taken.add((event.step.action, event.step.source))
            self.phase = {"explore": "exploring", "shrink": "shrinking a failure",
                          "replay": "replaying a failure", "check": "walking a reproduction"}.get(event.phase, event.phase)
        elif isinstance(event, JourneyFinished):
            self.journeys += 1
            self.explored += event.phase == "explore"
            self._refresh()
        elif isinstance(event, CleanupFinished) and event.ledger_id is not None:  # not a teardown's request
            self.cleanups["ok" if event.ok else "failed"] += 1
        elif isinstance(event, RunStarted):
            self._started(event)
        elif isinstance(event, RoundStarted):
            self.phase = "exploring"
        elif isinstance(event, FailureFound):
            self.failures.append(event.failure)
            failure = event.failure
            self._print(f"[bold red]✗ new failure[/] [bold]{failure.id}[/] {escape(str(failure.fingerprint))} "
                        f"— {failure.kind} ({failure.tally}), {len(failure.steps)} step(s)")
        elif isinstance(event, Notice):
            self._print(f"[yellow]note:[/] {escape(event.message)}")
        elif isinstance(event, ReplayFinished):  # a continuous run re-checking a known failure
            colour = {"fixed": "green", "still failing": "red", "flaky": "yellow"}.get(event.verdict, "yellow")
            self._print(f"[cyan]re-check[/] [bold]{event.fingerprint}[/]: [{colour}]{escape(event.verdict)}[/] "
                        f"({event.replays_failed} of {event.replays_run} replays failed)")
        elif isinstance(event, FailureRegressed):
            self._print(f"[bold red]✗ regressed[/] [bold]{event.fingerprint}[/] {escape(event.summary)}: it was "
                        f"fixed and fails again ({escape(event.how)})")
        elif isinstance(event, RateChanged):
            self.pace = event.description
            self._print(f"[cyan]schedule:[/] {escape(event.description)}")
            self._refresh()
        elif isinstance(event, OutageStarted):
            self.phase = "waiting: the target is down"
            self._print(f"[bold yellow]⚠ target down[/] ({escape(event.reason)}): waiting for it to answer "
                        "again; the journey under way is discarded, nothing of this is a failure")
            self._refresh()
        elif isinstance(event, OutageEnded):
            self.phase = "exploring"
            back = (f"back after {event.duration_s:,.0f}s" if event.ended_at is not None
                    else f"still down after {event.duration_s:,.0f}s")
            self._print(f"[bold yellow]⚠ target {back}[/] ({event.probes} probe(s)); one availability incident")
        elif isinstance(event, RunFinished) and not self.worker:
            self._stop_live()
            self._summary(event)

    def close(self) -> None:
        self._stop_live()

    # --- progress -------------------------------------------------------------------------
    def _started(self, event: RunStarted) -> None:
        self.started = time.monotonic()
        self.edges = {(action, source) for action, source, _ in event.edges}
        if self.worker:
            return
        self.budget = event.settings.get("journeys", 0)
        duration = event.settings.get("duration_s")
        forever = event.settings.get("forever")
        until = " or ".join(event.settings.get("until") or ())
        unbounded = forever or self.budget >= UNBOUNDED_JOURNEYS
        budget = ("until stopped (continuous)" if forever else "" if unbounded else f"{self.budget} journeys") + \
            (f" or {duration:g}s" if duration else "")
        budget = f"until {until}" + (f" or {budget}" if budget else "") if until else budget or "unbounded"
        if unbounded:
            self.budget = "∞"
        self.console.print(f"[bold]journeys {event.tool_version}[/] exploring model [bold]{escape(event.model)}[/] "
                           f"against [bold]{escape(event.target)}[/]", highlight=False)
        rate = event.settings.get("rate")
        self.pace = self.pace or (f"cap {rate}" if rate else None)
        cap = f" · at most {rate}" if rate else ""
        self.console.print(f"seed {event.seed} · budget {budget} · up to "
                           f"{event.settings.get('max_steps')} steps each{cap} · run {event.run_id}", style="dim")
        if self.console.is_terminal:
            self.live = Live(self._status(), console=self.console, refresh_per_second=4, transient=True)
            self.live.start()

    def _status(self) -> Text:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        failures = len(self.failures)
        return Text.assemble(
            (f"{self.explored}/{self.budget} journeys", "bold"), " · ",
            f"{self.steps:,} steps", " · ", f"{self.steps / elapsed:,.0f} steps/s", " · ",
            *((self.pace or "", "dim"), " · ") * bool(self.pace),
            *((f"edges {len(self.taken & self.edges)}/{len(self.edges)}", "cyan"), " · ") * bool(self.edges),
            (f"{failures} distinct failure{'s' if failures != 1 else ''}", "red" if failures else "green"),
            " · ", (self.phase, "dim"), " · ", (f"{elapsed:,.0f}s", "dim"),
        )

    def _refresh(self) -> None:
        if self.worker:
            return
        if self.live is not None:
            self.live.update(self._status())
        elif time.monotonic() - self.last_log >= self.log_every_s:
            self.last_log = time.monotonic()
            self.console.print(self._status())

    def _print(self, markup: str) -> None:
        if self.live is not None:
            self.live.console.print(markup)
        else:
            self.console.print(markup)

    def _stop_live(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    # --- summary --------------------------------------------------------------------------
    def _summary(self, event: RunFinished) -> None:
        console = self.console
        console.print()
        for number, failure in enumerate(event.failures, 1):
            self._failure(number, failure)
        kinds = Counter(f.kind for f in event.failures)
        elapsed = event.duration_s
        verdict = (f"[bold red]{len(event.failures)} distinct failure(s)[/]: "
                   + ", ".join(f"{kinds[kind]} {kind}{'(s)' if kind == 'regression' else ''}"
                               for kind in FAILURE_KINDS if kinds[kind])
                   if event.failures else
                   f"[bold yellow]no new failures[/] ({len(event.known_met)} known one(s) failing)" if event.known_met
                   else "[bold green]no failures found[/]")
        console.print(f"{verdict} · {event.journeys} journeys explored (+{event.shrink_journeys} to shrink "
                      f"and replay) · {self.steps:,} steps · {elapsed:,.1f}s · {escape(event.stop_reason)}")
        if event.coverage is not None:
            self._coverage(event.coverage)
        if event.regressed:
            console.print(f"[bold red]{len(event.regressed)} fixed failure(s) regressed[/]: {', '.join(event.regressed)}")
        if event.known_met:
            console.print(f"[yellow]{len(event.known_met)} failure(s) known from the store met again[/] "
                          f"(not shrunk or reported again; `journeys failures` has them): {', '.join(event.known_met)}")
        if event.outages:
            total = sum(outage.duration_s for outage in event.outages)
            console.print(f"[yellow]{len(event.outages)} availability incident(s)[/] (the target was down "
                          f"{total:,.0f}s in all; waited out, not failures): "
                          + "; ".join(escape(outage.reason) for outage in event.outages))
        if self.cleanups["failed"]:
            total = self.cleanups["failed"] + self.cleanups["ok"]
            console.print(f"[yellow]{self.cleanups['failed']} of {total} clean-up request(s) failed[/]: what they "
                          "should have removed may still be on the target (`journeys report` lists them; "
                          "`journeys cleanup --all` tries the ledger's open ones again)")
        if any(f.reproducible for f in event.failures) and self.reproductions_dir:
            console.print(f"Standalone reproductions (pytest + httpx) in [bold]{escape(self.reproductions_dir)}/[/]; "
                          f"run one with JOURNEYS_TARGET=<url> pytest <file>")

    def _coverage(self, coverage) -> None:
        shown = 8
        self.console.print(f"Coverage: {coverage.line()}", highlight=False)
        for title, items in (("never taken", coverage.never_taken), ("could never run", coverage.never_ran)):
            if items:
                more = f"; and {len(items) - shown} more (`journeys report` lists them)" if len(items) > shown else ""
                self.console.print(f"  {title}: {escape('; '.join(items[:shown]))}{more}", style="dim", highlight=False)

    def _failure(self, number: int, failure: Failure) -> None:
        console = self.console
        console.print(f"[bold red]Failure {number}[/] [bold]{failure.id}[/] · {escape(str(failure.fingerprint))} "
                      f"· [bold]{failure.kind}[/] ({escape(failure.tally)})")
        for step in failure.steps:
            self._step(step, failing=step is failure.failing_step)
        console.print(f"    [red]✗ {escape(redact_text(failure.message))}[/]")
        for note in failure.notes:
            console.print(f"    note: {escape(redact_text(note))}", style="dim")
        if failure.left_behind is not None:
            console.print(f"    [yellow]left-behind state:[/] {escape(describe(failure.left_behind))}")
            if failure.left_behind.creating_step is not None:
                self._step(failure.left_behind.creating_step, failing=False)
        if self.reproductions_dir and failure.reproducible:
            console.print(f"    reproduction: {escape(reproduction_path(self.reproductions_dir, failure))} "
                          "(walked once as written: it fails at the marked step)", style="dim")
        elif self.reproductions_dir:
            console.print(f"    [yellow]no reproduction file[/]: walking the exported form {escape(no_file(failure))}")
        console.print()

    def _step(self, step: StepRecord, *, failing: bool) -> None:
        data = compact(redact_data(step.data))
        marker = "[red]→[/]" if failing else " "
        self.console.print(f"  {marker} {step.index + 1}. [bold]{escape(step.actor)}[/] {escape(step.action)} "
                           f"{escape(data)}")
        for request in step.requests:
            status = request.status if request.status is not None else f"no response ({request.error})"
            headers = redact_headers(request.headers)
            auth = " (signed in)" if "Authorization" in headers else ""
            body = f" {compact(redact_data(request.json))}" if request.json is not None else ""
            self.console.print(f"       {request.method} {escape(with_query(request))}{escape(body)}{auth} → {status}",
                               style="dim")


def with_query(request) -> str:
    """The request's path with its query string, as it was sent (secret values masked)."""
    if not request.params:
        return request.path
    return request.path + "?" + urlencode(redact_data(request.params), doseq=True)


def compact(value: Any, limit: int = 160) -> str:
    """One line of JSON, cut at ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
