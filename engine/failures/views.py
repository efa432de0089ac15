"""What ``journeys failures`` and ``journeys show`` print, read from the store."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
from rich.console import Console
from rich.markup import escape

from engine.failures.left_behind import describe
from engine.records import Failure, StepRecord
from engine.redact import redact_data, redact_everywhere, redact_headers, redact_text
from engine.store.report import print_table
from engine.cli.terminal import with_query
from engine.cli.terminal import compact

__all__ = ["FAILURES_SQL", "creating_journey_cleanups", "list_failures", "print_failure"]

SHOW_LIMIT = 240  # `show` prints longer bodies than the run summary

FAILURES_SQL = """
    SELECT f.fingerprint AS id, f.action || ': ' || f.check_name AS failure, f.status_class AS status,
           f.kind, l.status AS lifecycle, f.occurrences, f.runs, f.first_seen, f.last_seen
    FROM failures f LEFT JOIN failure_lifecycle l USING (fingerprint)
    WHERE f.last_seen >= ? AND (? IS NULL OR f.kind = ?)
    ORDER BY f.last_seen DESC
"""


def list_failures(connection: duckdb.DuckDBPyConnection, *, since_s: float | None, kind: str | None,
                  console: Console | None = None) -> int:
    since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=since_s) if since_s
             else dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc))
    cursor = connection.execute(FAILURES_SQL, [since, kind, kind])
    columns = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    print_table(columns, rows, title=f"{len(rows)} distinct failure(s), newest first", console=console)
    return len(rows)


def creating_journey_cleanups(connection: duckdb.DuckDBPyConnection, failure: Failure) -> list[tuple]:
    """What the store says the clean-ups of the journey that left the data behind did."""
    left_behind = failure.left_behind
    if left_behind is None:
        return []
    return connection.execute(
        "SELECT created_by_step, created_by_action, method, path, status, cleaned FROM cleanups "
        "WHERE run_id = ? AND journey = ? ORDER BY cleaned_at",
        [left_behind.run_id, left_behind.journey]).fetchall()


def print_failure(console: Console, row: dict[str, Any], failure: Failure, lifecycle: str | None,
                  replays: list[tuple], cleanups: list[tuple] = ()) -> None:
    """The minimal reproduction as numbered steps, with requests and (redacted) responses.

    For left-behind state, first the journey that most likely left the data, with
    the step that created it starred and what its clean-ups did (from the store).
    """
    console.print(f"[bold]{failure.id}[/] · {escape(str(failure.fingerprint))}")
    console.print(f"  kind: [bold]{failure.kind}[/] ({escape(failure.tally)} when found) · lifecycle: "
                  f"[bold]{lifecycle or 'new'}[/]")
    for note in failure.notes:
        console.print(f"  note: {escape(redact_text(note))}")
    console.print(f"  first seen {row['first_seen']:%Y-%m-%d %H:%M:%S} · last seen "
                  f"{row['last_seen']:%Y-%m-%d %H:%M:%S} UTC · {row['occurrences']} exploring journey(s) "
                  f"in {row['runs']} run(s) · last run {row['last_run_id']}")
    console.print(f"  seed {failure.seed} · tool version {failure.tool_version}")
    left_behind = failure.left_behind
    if left_behind is not None:
        console.print()
        console.print(f"  [yellow]left-behind state:[/] {escape(describe(left_behind))}")
        console.print()
        if left_behind.steps:
            console.print(f"  The journey that left it (journey {left_behind.journey}, run {left_behind.run_id}); "
                          f"★ created the data:")
            _print_steps(console, left_behind.steps, marked=left_behind.creating_step, marker="[yellow]★[/]")
        else:
            console.print(f"  It was left by journey {left_behind.journey} of run {left_behind.run_id}, an earlier "
                          "run (whose journeys are not kept): what its clean-ups did:")
        for step, action, method, path, status, cleaned in cleanups:
            by = f" (for step {step + 1}, {action})" if step is not None else " (teardown)"
            outcome = "cleaned" if cleaned else "[red]FAILED[/]"
            console.print(f"    clean-up {method} {escape(path)} → {status if status is not None else 'no answer'} "
                          f"{outcome}{escape(by)}", style="dim" if cleaned else None)
        console.print()
        console.print("  Then the failing path:")
    else:
        console.print()
    _print_steps(console, failure.steps, marked=failure.failing_step, marker="[red]→[/]")
    for check in failure.failing_step.checks:
        if not check.passed:
            console.print(f"    [red]✗ {escape(redact_text(check.message))}[/]")
    if replays:
        console.print()
        console.print("  replays since:")
        for replayed_at, target, verdict, failed, run in replays:
            console.print(f"    {replayed_at:%Y-%m-%d %H:%M:%S} {escape(target)}: {verdict} "
                          f"({failed} of {run} failed)")


def _print_steps(console: Console, steps: tuple[StepRecord, ...], *, marked: StepRecord, marker: str) -> None:
    for step in steps:
        console.print(f"  {marker if step is marked else ' '} {step.index + 1}. [bold]{escape(step.actor)}[/] "
                      f"{escape(step.action)} {escape(compact(redact_data(step.data), SHOW_LIMIT))}")
        for request in step.requests:
            headers = redact_headers(request.headers)
            auth = " (signed in)" if "Authorization" in headers else ""
            body = f" {compact(redact_everywhere(request.json), SHOW_LIMIT)}" if request.json is not None else ""
            console.print(f"       {request.method} {escape(with_query(request))}{escape(body)}{auth}", style="dim")
            if request.status is None:
                console.print(f"       ← no response ({escape(request.error or '')})", style="dim")
            else:
                answer = (compact(redact_everywhere(request.response_json), SHOW_LIMIT)
                          if request.response_json is not None else redact_text(request.response_text[:240]))
                console.print(f"       ← {request.status} {escape(answer)}", style="dim")
