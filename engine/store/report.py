"""``journeys report`` and ``journeys sql``: the store, read back for a person at a terminal."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any, Sequence

import duckdb
from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["print_report", "print_table", "report_sections", "wide_console"]

SPARK = "▁▂▃▄▅▆▇█"
TREND_DAYS = 14


def wide_console() -> Console:
    """Rich's console; piped output is 160 columns wide (not 80) unless COLUMNS says otherwise."""
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, soft_wrap=False, width=160)
    return console


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None,
                console: Console | None = None) -> None:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    (console or wide_console()).print(table)


def sparkline(counts: Sequence[int]) -> str:
    top = max(counts, default=0)
    if top == 0:
        return " " * len(counts)
    return "".join(" " if c == 0 else SPARK[min(len(SPARK) - 1, (c * len(SPARK) - 1) // top)]
                   for c in counts)


def report_sections(connection: duckdb.DuckDBPyConnection, since_s: float) -> dict[str, Any]:
    """The report's figures as plain data (the terminal view below prints them)."""
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=since_s)
    runs = connection.execute("""
        SELECT count(*), count(*) FILTER (WHERE status = 'incomplete'), coalesce(sum(journeys), 0),
               coalesce(sum(steps), 0), min(started_at), max(started_at)
        FROM runs WHERE started_at >= ?""", [since]).fetchone()
    days = [(since.date() if since_s < TREND_DAYS * 86400 else
             (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=TREND_DAYS - 1)).date())]
    today = dt.datetime.now(dt.timezone.utc).date()
    while days[-1] < today:
        days.append(days[-1] + dt.timedelta(days=1))
    failures = connection.execute("""
        WITH recent AS (
            SELECT fingerprint, count(*) AS hits, min(finished_at) AS first_in, max(finished_at) AS last_in
            FROM journeys WHERE phase = 'explore' AND fingerprint IS NOT NULL AND finished_at >= ?
            GROUP BY fingerprint
        ), daily AS (
            SELECT fingerprint, list({'day': CAST(timezone('UTC', finished_at) AS DATE), 'n': n}) AS per_day
            FROM (SELECT fingerprint, date_trunc('day', finished_at) AS finished_at, count(*) AS n
                  FROM journeys WHERE phase = 'explore' AND fingerprint IS NOT NULL AND finished_at >= ?
                  GROUP BY ALL)
            GROUP BY fingerprint
        )
        SELECT f.fingerprint, f.action || ': ' || f.check_name AS failure, f.status_class, f.kind,
               coalesce(l.status, 'new') AS lifecycle, f.first_seen, f.last_seen, coalesce(r.hits, 0) AS occurrences, f.occurrences AS all_time,
               d.per_day
        FROM failures f LEFT JOIN recent r USING (fingerprint) LEFT JOIN daily d USING (fingerprint)
             LEFT JOIN failure_lifecycle l USING (fingerprint)
        WHERE f.last_seen >= ?
        ORDER BY f.last_seen DESC""", [since, since, since]).fetchall()
    failure_rows = []
    for *head, per_day in failures:
        counts = {item["day"]: item["n"] for item in (per_day or [])}
        failure_rows.append((*head, sparkline([counts.get(day, 0) for day in days[-TREND_DAYS:]])))
    slow = connection.execute("""
        SELECT action, steps, q[1] AS p50_ms, q[2] AS p95_ms, q[3] AS p99_ms, max_ms FROM (
            SELECT action, count(*) AS steps, max(latency_ms) AS max_ms,
                   quantile_cont(latency_ms, [0.5, 0.95, 0.99]) AS q  -- one sort for all three
            FROM steps WHERE finished_at >= ? AND phase = 'explore' GROUP BY action)
        ORDER BY p95_ms DESC LIMIT 10""", [since]).fetchall()
    coverage = connection.execute("""
        SELECT c.model, c.action, c.source || ' -> ' || c.target AS edge, sum(c.hits) AS hits
        FROM edge_coverage c JOIN runs_started r USING (run_id)
        WHERE r.started_at >= ?
        GROUP BY ALL ORDER BY c.model, hits DESC, c.action""", [since]).fetchall()
    pairs = dict(((model, (taken, total)) for model, taken, total in connection.execute("""
        SELECT model, count(*) FILTER (WHERE hits > 0), count(*) FROM (
            SELECT c.model, first_action, first_source, second_action, second_source, sum(hits) AS hits
            FROM edge_pair_coverage c JOIN runs_started r USING (run_id) WHERE r.started_at >= ? GROUP BY ALL)
        GROUP BY model""", [since]).fetchall()))
    never_ran = connection.execute("""
        SELECT model, never_ran FROM runs WHERE started_at >= ? AND never_ran IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY model ORDER BY started_at DESC) = 1""", [since]).fetchall()
    return {"since": since, "runs": runs, "failures": failure_rows, "slow": slow, "coverage": coverage,
            "pairs": pairs, "never_ran": dict(never_ran), "days": days[-TREND_DAYS:]}


def print_report(connection: duckdb.DuckDBPyConnection, since_s: float, console: Console | None = None) -> None:
    console = console or wide_console()
    data = report_sections(connection, since_s)
    count, incomplete, journeys, steps, first, last = data["runs"]
    console.print(f"[bold]journeys report[/] since {_cell(data['since'])} UTC: {count} run(s)"
                  + (f" ({incomplete} without an end: still running or killed)" if incomplete else "")
                  + f", {journeys:,} journeys, {steps:,} steps")
    if not count:
        console.print("No runs in this period; try a longer --since.")
        return
    print_unended(connection, since_s, console)
    days = data["days"]
    trend = f"per day {days[0]:%m-%d}..{days[-1]:%m-%d}"
    print_table(["fingerprint", "failure", "status", "kind", "lifecycle", "first seen", "last seen", "hits",
                 "hits ever", trend], data["failures"],
                title=f"Distinct failures ({len(data['failures'])})", console=console)
    print_table(["action", "steps", "p50 ms", "p95 ms", "p99 ms", "max ms"], data["slow"],
                title="Slowest actions (by p95 latency)", console=console)
    print_coverage(data, console)


def print_unended(connection: duckdb.DuckDBPyConnection, since_s: float, console: Console) -> None:
    """The period's runs without an end, by their last heartbeat: still beating, or silent (killed, or stuck)
    for more than three beats."""
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=since_s)
    rows = connection.execute("""
        SELECT r.run_id, h.host, h.pid, h.beat_at, h.state, h.steps,
               CASE WHEN h.beat_at IS NULL THEN 'no heartbeat'
                    WHEN h.beat_at >= now() - 3 * h.every_s * INTERVAL 1 SECOND THEN 'beating'
                    ELSE 'silent' END AS pulse
        FROM runs r LEFT JOIN heartbeats h USING (run_id)
        WHERE r.status = 'incomplete' AND r.started_at >= ? ORDER BY r.started_at""", [since]).fetchall()
    if rows:
        print_table(["run", "host", "pid", "last beat", "state", "steps", "pulse"], rows, console=console,
                    title="Runs without an end (a silent one was killed or is stuck)")


def print_coverage(data: dict, console: Console, shown: int = 30) -> None:
    """Per model: edges and edge pairs walked across the period's runs, the edges never walked, and
    the actions that could never run in the latest run (with why)."""
    models = sorted({row[0] for row in data["coverage"]})
    for model in models:
        edges = [row for row in data["coverage"] if row[0] == model]
        taken = sum(1 for row in edges if row[3])
        pairs_taken, pairs = data["pairs"].get(model, (0, 0))
        console.print(f"[bold]Coverage of {escape(model)}[/]: {taken} of {len(edges)} edges walked"
                      + (f", {pairs_taken} of {pairs} edge pairs" if pairs else ""), highlight=False)
        never = [row[1:3] for row in edges if not row[3]]
        if never:
            print_table(["action", "edge"], never[:shown], console=console,
                        title=f"Never walked ({len(never)})" + (f", first {shown}" if len(never) > shown else ""))
        for item in (data["never_ran"].get(model) or [])[:shown]:
            console.print(f"  could never run: {escape(item)}", style="dim", highlight=False)


def print_cleanups(connection: duckdb.DuckDBPyConnection, ledger, since_s: float,
                   console: Console | None = None) -> None:
    """Clean-ups that failed in the period, and what the ledger says is still on the target."""
    console = console or wide_console()
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=since_s)
    failed, total = connection.execute("""
        SELECT count(*) FILTER (WHERE NOT cleaned), count(*) FROM cleanups
        WHERE created_by_step IS NOT NULL AND cleaned_at >= ?""", [since]).fetchone()
    open_by_run: dict[str, int] = {}
    for entry in ledger.open_entries():
        if entry.registered_at >= since.timestamp():
            open_by_run[entry.run_id] = open_by_run.get(entry.run_id, 0) + 1
    console.print(f"[bold]Clean-ups[/]: {failed} of {total} request(s) failed; "
                  f"{sum(open_by_run.values())} ledger entr(ies) still open"
                  + (" (`journeys cleanup --all` sends them again)" if open_by_run else ""))
    rows = [(run, (ledger.runs[run].state() if run in ledger.runs else "unknown"), count)
            for run, count in sorted(open_by_run.items())]
    if rows:
        print_table(["run", "state", "open"], rows, console=console)
