"""The ``journeys`` command line: explore, report, sql, failures, show, replay, export,
validate, graph, demo serve.

Exit codes: 0 no failure found, 1 failures found, 2 usage, configuration or
model error. Every error the tool expects (a missing model file, a broken
model, a bad flag, an unreachable target) is one clear line, not a traceback.
"""

from __future__ import annotations

import json
import re
import sys
import uuid

import click
import duckdb

from engine import __version__
from engine.errors import ConfigError, JourneysError, ModelError
from engine.events import EventBus
from engine.store import DEFAULT_STORE, StoreWriter, connect, store_path
from engine.export.pytest_file import render_pytest
from engine.failures.views import creating_journey_cleanups, list_failures, print_failure
from demo_shop.app import BUGS as DEMO_BUGS
from engine.records import FAILURE_KINDS
from engine.store.report import print_report, print_table, wide_console
from engine.failures.stored import find_failure, load_failure, needs_model, replay_stored
from engine.walk.explorer import ExploreSettings, Explorer, default_user_agent
from engine.model.graph import to_dot, to_mermaid
from engine.model.loader import load_model
from engine.export.report_json import JsonReport
from engine.export.reproductions import ReproductionWriter
from engine.cli.terminal import TerminalView
from engine.http.client import TargetClient, allowed_host, open_target, preflight
from engine.http.rate import RateCap, parse_rate
from engine.model.validate import problems

__all__ = ["main", "cli"]


class Duration(click.ParamType):
    """``90s``, ``10m``, ``2h``, ``1d`` or a number of seconds."""

    name = "duration"
    UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(value))
        if not match or float(match.group(1)) <= 0:
            self.fail(f"{value!r} is not a duration; use e.g. 90s, 10m, 2h or 1d", param, ctx)
        return float(match.group(1)) * self.UNITS[match.group(2) or "s"]


class RateOption(click.ParamType):
    """``5/s``, ``300/min``, ``1/10s``: checked when the flag is read, a usage error if it is bad."""

    name = "rate"

    def convert(self, value, param, ctx):
        try:
            return parse_rate(str(value)).text
        except ConfigError as error:
            self.fail(str(error), param, ctx)


def store_option(function):
    return click.option("--store", default=None, metavar="PATH",
                        help=f"The store folder [default: $JOURNEYS_STORE or ./{DEFAULT_STORE}].")(function)


def _fail(error: JourneysError) -> None:
    click.echo(f"journeys: error: {error}", err=True)
    for problem in getattr(error, "problems", []):
        click.echo(f"  {problem}", err=True)
    sys.exit(error.exit_code)


def _load_valid_model(spec: str):
    model = load_model(spec)
    found = problems(model)
    if found:
        raise ModelError(f"{spec}: {len(found)} problem(s) in model {model.name!r}", found)
    return model


rate_option = click.option(
    "--rate", type=RateOption(), default=None, metavar="N/UNIT",
    help="Cap on requests to the target, shrinking, replays, pre-flight and clean-ups included: "
         "5/s, 300/min, 1/10s [default: no cap].")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="journeys")
def cli() -> None:
    """Property-based user journeys, walked against a live target."""


@cli.command()
@click.argument("model_spec", metavar="MODEL")
@click.option("--target", required=True, help="'demo' for the embedded demo shop, or a base URL.")
@click.option("--journeys", "journeys", type=click.IntRange(min=1), default=400, show_default=True,
              help="Journeys to explore (shrinking and replays come on top).")
@click.option("--max-steps", type=click.IntRange(min=1, max=1000), default=25, show_default=True,
              help="Most steps in one journey.")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Seed for a reproducible run.")
@click.option("--duration", type=Duration(), default=None, help="Stop exploring after this long (e.g. 10m).")
@click.option("--replays", type=click.IntRange(min=1, max=100), default=5, show_default=True,
              help="Replays of each failure's path that decide regression or intermittent.")
@click.option("--shrink-budget", type=click.IntRange(min=0), default=300, show_default=True,
              help="Requests one failure may spend on shrinking; then the smallest path so far is kept.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="HOST[:PORT]",
              help="Another host requests may go to besides the target's (repeatable); any other is refused "
                   "before it is sent.")
@click.option("--run-header", default="X-Journeys-Run", show_default=True, metavar="NAME",
              help="Header carrying the run id on every request, so the target can filter test traffic ('' for none).")
@click.option("--user-agent", default=None, metavar="TEXT",
              help="User-Agent of every request [default: journeys/<version> (run <id>)].")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.01), default=10.0, show_default=True,
              metavar="SECONDS", help="Seconds to wait for each answer.")
@rate_option
@click.option("--reset/--no-reset", default=True, show_default=True,
              help="Use the model's @model.reset (if it declares one) to confirm left-behind state by experiment; "
                   "--no-reset on a target that must not be reset.")
@click.option("--out", "out_dir", default="reproductions", show_default=True,
              help="Folder for the standalone pytest reproductions.")
@click.option("--examples-db", default=".journeys/examples", show_default=True,
              help="Hypothesis example database, so known failures are tried first next time.")
@click.option("--no-examples-db", is_flag=True, help="Do not read or write the example database.")
@click.option("--json", "json_path", default=None, help="Also write the outcome as JSON to this file.")
@click.option("--demo-bugs/--no-demo-bugs", default=True, show_default=True,
              help="With --target demo: keep the demo's seeded bugs, or run a fixed build.")
@store_option
@click.option("--no-store", is_flag=True, help="Do not log this run to the store.")
def explore(model_spec, target, journeys, max_steps, seed, duration, replays, shrink_budget, allow_hosts,
            run_header, user_agent, timeout_s, rate, reset, out_dir,
            examples_db, no_examples_db, json_path, demo_bugs, store, no_store) -> None:
    """Explore MODEL (a .py file under models/) against --target."""
    try:
        rate_cap = RateCap(parse_rate(rate)) if rate else None
        model = _load_valid_model(model_spec)
        opened = open_target(target, seed=seed or 0, demo_bugs=demo_bugs, timeout_s=timeout_s)
        for host in allow_hosts:
            allowed_host(host)  # a bad --allow-host is a usage error before anything is sent
        run_id = uuid.uuid4().hex[:12]
        tagging = {"User-Agent": user_agent or default_user_agent(run_id),
                   **({run_header: run_id} if run_header else {})}
        preflight(opened, headers=tagging, rate_cap=rate_cap)
    except JourneysError as error:
        _fail(error)
    settings = ExploreSettings(journeys=journeys, max_steps=max_steps, seed=seed, duration_s=duration,
                               replays=replays, database=None if no_examples_db else examples_db,
                               shrink_budget=shrink_budget, reset=reset, allowed_hosts=tuple(allow_hosts),
                               run_header=run_header, user_agent=user_agent, run_id=run_id, rate=rate)
    view = TerminalView(reproductions_dir=out_dir)
    writer = ReproductionWriter(out_dir, model=model.name, target=opened.label)
    bus = EventBus([writer, view])
    if json_path:
        bus.subscribe(JsonReport(json_path))
    if not no_store:
        try:
            bus.subscribe(StoreWriter(store_path(store)))
        except OSError as error:
            opened.close()
            _fail(ConfigError(f"cannot open the store at {str(store_path(store))!r}: {error}"))
    try:
        try:
            finished = Explorer(model, opened, bus, settings, rate_cap=rate_cap).run()
        finally:
            try:
                bus.close()
            finally:
                opened.close()
    except JourneysError as error:
        _fail(error)
    if finished.interrupted and not finished.failures:
        sys.exit(130)
    sys.exit(finished.exit_code)


@cli.command()
@click.argument("query")
@store_option
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True,
              help="Most rows to print.")
def sql(query, store, limit) -> None:
    """Run a SQL QUERY against the store and print the result as a table."""
    try:
        connection = connect(store)
    except JourneysError as error:
        _fail(error)
    try:
        result = connection.execute(query)
    except duckdb.Error as error:
        _fail(ConfigError(f"query failed: {str(error).splitlines()[0]}"))
    if result.description is None:
        return
    columns = [d[0] for d in result.description]
    rows = result.fetchmany(limit + 1)
    print_table(columns, rows[:limit])
    if len(rows) > limit:
        click.echo(f"(first {limit} rows; --limit N for more)", err=True)


@cli.command()
@store_option
@click.option("--since", type=Duration(), default="7d", show_default=True,
              help="How far back to look (e.g. 24h, 7d).")
def report(store, since) -> None:
    """Failures with their trend, the slowest actions and edge coverage, from the store."""
    try:
        connection = connect(store)
    except JourneysError as error:
        _fail(error)
    print_report(connection, since_s=since)


@cli.command()
@store_option
@click.option("--kind", type=click.Choice(FAILURE_KINDS), default=None,
              help="Only failures of this kind.")
@click.option("--since", type=Duration(), default=None, help="Only failures seen this recently (e.g. 7d).")
def failures(store, kind, since) -> None:
    """The distinct failures in the store, newest first."""
    try:
        connection = connect(store)
    except JourneysError as error:
        _fail(error)
    list_failures(connection, since_s=since, kind=kind, console=wide_console())


def _stored_failure(store, failure_id):
    connection = connect(store)
    row = find_failure(connection, failure_id)
    try:
        failure, _ = load_failure(row["reproduction"])
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError(f"the stored reproduction of {row['fingerprint']} cannot be read "
                          f"({type(error).__name__}: {error}); was it written by a newer journeys?") from None
    return connection, row, failure


@cli.command()
@click.argument("failure_id")
@store_option
def show(failure_id, store) -> None:
    """A failure's minimal reproduction as numbered steps, with requests and responses."""
    try:
        connection, row, failure = _stored_failure(store, failure_id)
    except JourneysError as error:
        _fail(error)
    lifecycle = connection.execute("SELECT status FROM failure_lifecycle WHERE fingerprint = ?",
                                   [failure.id]).fetchone()
    replays = connection.execute(
        "SELECT replayed_at, target, verdict, replays_failed, replays_run FROM replays "
        "WHERE fingerprint = ? ORDER BY replayed_at", [failure.id]).fetchall()
    print_failure(wide_console(), row, failure, lifecycle[0] if lifecycle else None, replays,
                  creating_journey_cleanups(connection, failure))


@cli.command()
@click.argument("failure_id")
@click.option("--target", required=True, help="'demo' or the base URL to replay against.")
@click.option("--model", "model_spec", default=None, metavar="MODEL",
              help="The model file, needed only when the failing check is model code "
                   "[default: the one the failing run used].")
@click.option("--times", type=click.IntRange(min=1, max=100), default=5, show_default=True)
@store_option
@click.option("--demo-bugs/--no-demo-bugs", default=True, show_default=True,
              help="With --target demo: keep the demo's seeded bugs, or run a fixed build.")
@click.option("--setup/--no-setup", default=False, show_default=True,
              help="Left-behind state: walk the journey that left the data first (re-creates it on --target).")
@rate_option
def replay(failure_id, target, model_spec, times, store, demo_bugs, setup, rate) -> None:
    """Re-run a stored failure's minimal path against --target: still failing, fixed or flaky.

    It walks the exported form, the same requests and checks `journeys export` writes.

    Exit 0 when fixed, 1 when it still fails (every time or some of the times), 2 when
    inconclusive.
    """
    try:
        rate_cap = RateCap(parse_rate(rate)) if rate else None
        connection, row, failure = _stored_failure(store, failure_id)
        model = None
        if needs_model(failure):  # the failing check is model code: only the model can decide it
            if model_spec is None:
                found = connection.execute("SELECT model_file FROM runs_started WHERE run_id = ?",
                                           [row["last_run_id"]]).fetchone()
                if not found or not found[0]:
                    raise ConfigError("the store does not say which model found this failure; pass --model")
                model_spec = found[0]
            model = _load_valid_model(model_spec)
        opened = open_target(target, demo_bugs=demo_bugs)
        preflight(opened, rate_cap=rate_cap)
    except JourneysError as error:
        _fail(error)
    bus = EventBus([StoreWriter(store_path(store))])
    try:
        try:  # a store from before the setup column cannot have confirmed it
            confirmed = bool(connection.execute(
                "SELECT count(*) FROM replays WHERE fingerprint = ? AND setup AND verdict = 'still failing'",
                [failure.id]).fetchone()[0])
        except duckdb.Error:
            confirmed = False
        run_id = "replay-" + uuid.uuid4().hex[:8]
        finished = replay_stored(failure, model=lambda: model, client=TargetClient(opened.client, run_id=run_id,
                                                                             rate_cap=rate_cap),
                                 setup_confirmed=confirmed, target_label=opened.label, times=times, emit=bus.emit,
                                 run_id=run_id, setup=setup)
    finally:
        bus.close()
        opened.close()
    click.echo(f"{failure.id} {failure.fingerprint} against {opened.label}: {finished.verdict} "
               f"({finished.replays_failed} of {finished.replays_run} replays failed)")
    for note in finished.notes:
        click.echo(f"  note: {note}")
    if finished.verdict == "inconclusive":
        sys.exit(2)
    sys.exit(0 if finished.verdict == "fixed" else 1)


@cli.command()
@click.argument("failure_id")
@click.option("--format", "output_format", type=click.Choice(["pytest", "json", "curl"]), default="pytest",
              show_default=True)
@click.option("-o", "--output", default=None, help="Write to this file instead of standard output.")
@store_option
def export(failure_id, output_format, output, store) -> None:
    """A stored failure as a standalone pytest file, a bash script of curl calls or its JSON trace."""
    try:
        connection, row, failure = _stored_failure(store, failure_id)
    except JourneysError as error:
        _fail(error)
    if output_format == "json":
        text = json.dumps(json.loads(row["reproduction"]), ensure_ascii=False, indent=2) + "\n"
    else:
        found = connection.execute("SELECT model, target FROM runs_started WHERE run_id = ?",
                                   [row["last_run_id"]]).fetchone() or ("?", "?")
        if output_format == "curl":
            from engine.export.curl_script import render_curl as render
        else:
            render = render_pytest
        text = render(failure, model=found[0], target=found[1])
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
        if output_format == "curl":  # a script: executable wherever reading it is allowed
            import os

            mode = os.stat(output).st_mode
            os.chmod(output, mode | (mode & 0o444) >> 2)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@cli.command()
@click.argument("model_spec", metavar="MODEL")
def validate(model_spec) -> None:
    """Check MODEL and report every problem at once (exit 2 if any)."""
    try:
        model = _load_valid_model(model_spec)
    except JourneysError as error:
        _fail(error)
    pairs = sum(len(action.sources) for action in model.actions)
    click.echo(f"{model_spec}: model {model.name!r} is valid: {len(model.states)} states, "
               f"{len(model.actions)} actions ({pairs} edges), {len(model.actors)} actor(s), "
               f"{len(model.invariants)} invariant(s)")


@cli.command()
@click.argument("model_spec", metavar="MODEL")
@click.option("--format", "output_format", type=click.Choice(["mermaid", "dot"]), default="mermaid",
              show_default=True)
def graph(model_spec, output_format) -> None:
    """Print MODEL's state graph as Mermaid or Graphviz dot."""
    try:
        model = _load_valid_model(model_spec)
    except JourneysError as error:
        _fail(error)
    click.echo(to_mermaid(model) if output_format == "mermaid" else to_dot(model), nl=False)


@cli.group()
def demo() -> None:
    """The embedded demo shop."""


@demo.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8765, show_default=True)
@click.option("--bugs/--no-bugs", default=True, show_default=True, help="Seeded bugs on, or a fixed build.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--bug", "only", multiple=True, metavar="NAME",
              type=click.Choice(DEMO_BUGS),
              help="Exactly these seeded bugs (repeatable), instead of the default set.")
def demo_serve(host, port, bugs, seed, only) -> None:
    """Serve the demo shop over HTTP until interrupted."""
    from demo_shop import DemoShop, serve

    if only:
        bugs = only

    def ready(url: str) -> None:
        state = (", ".join(bugs) if only else "on") if bugs else "off (fixed build)"
        click.echo(f"demo shop listening on {url} (seeded bugs {state}); Ctrl-C to stop", err=True)

    try:
        serve(DemoShop(bugs=bugs, seed=seed), host=host, port=port, ready=ready)
    except OSError as error:
        _fail(ConfigError(f"cannot listen on {host}:{port}: {error.strerror or error}"))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
