"""What ``journeys failures`` and ``journeys show`` print, read from the store."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
from rich.console import Console
from rich.markup import escape

from .records import Failure
from .redact import redact_data, redact_everywhere, redact_headers, redact_text
from .store.report import print_table
from .terminal import compact

__all__ = ["FAILURES_SQL", "list_failures", "print_failure"]

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


def print_failure(console: Console, row: dict[str, Any], failure: Failure, lifecycle: str | None,
                  replays: list[tuple]) -> None:
    """The minimal reproduction as numbered steps, with requests and (redacted) responses."""
    console.print(f"[bold]{failure.id}[/] · {escape(str(failure.fingerprint))}")
    console.print(f"  kind: [bold]{failure.kind}[/] (failed {failure.replays_failed} of "
                  f"{failure.replays_run} replays when found) · lifecycle: [bold]{lifecycle or 'new'}[/]")
    console.print(f"  first seen {row['first_seen']:%Y-%m-%d %H:%M:%S} · last seen "
                  f"{row['last_seen']:%Y-%m-%d %H:%M:%S} UTC · {row['occurrences']} exploring journey(s) "
                  f"in {row['runs']} run(s) · last run {row['last_run_id']}")
    console.print(f"  seed {failure.seed} · tool version {failure.tool_version}")
    console.print()
    for step in failure.steps:
        failing = step is failure.failing_step
        marker = "[red]→[/]" if failing else " "
        console.print(f"  {marker} {step.index + 1}. [bold]{escape(step.actor)}[/] {escape(step.action)} "
                      f"{escape(compact(redact_data(step.data), SHOW_LIMIT))}")
        for request in step.requests:
            headers = redact_headers(request.headers)
            auth = " (signed in)" if "Authorization" in headers else ""
            body = f" {compact(redact_everywhere(request.json), SHOW_LIMIT)}" if request.json is not None else ""
            console.print(f"       {request.method} {escape(request.path)}{escape(body)}{auth}", style="dim")
            if request.status is None:
                console.print(f"       ← no response ({escape(request.error or '')})", style="dim")
            else:
                answer = (compact(redact_everywhere(request.response_json), SHOW_LIMIT)
                          if request.response_json is not None else redact_text(request.response_text[:240]))
                console.print(f"       ← {request.status} {escape(answer)}", style="dim")
        for check in step.checks:
            if not check.passed:
                console.print(f"    [red]✗ {escape(redact_text(check.message))}[/]")
    if replays:
        console.print()
        console.print("  replays since:")
        for replayed_at, target, verdict, failed, run in replays:
            console.print(f"    {replayed_at:%Y-%m-%d %H:%M:%S} {escape(target)}: {verdict} "
                          f"({failed} of {run} failed)")
