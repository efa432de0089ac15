"""The commands on failures kept in the store: failures, show, replay, export."""

from __future__ import annotations

import json
import sys
import uuid

import click
import duckdb

from engine.cli.alert_options import alert_options, alert_settings, open_alerts
from engine.cli.options import (Duration, credential_option, fail, load_valid_model, local_store_option, rate_option,
                                store_option)
from engine.errors import ConfigError, JourneysError
from engine.events import EventBus
from engine.export.pytest_file import render_pytest
from engine.failures.stored import find_failure, load_failure, needs_model, replay_stored
from engine.failures.views import creating_journey_cleanups, list_failures, print_failure
from engine.http.client import TargetClient, open_target, preflight
from engine.http.credentials import Credentials
from engine.http.rate import RateCap, parse_rate
from engine.records import FAILURE_KINDS
from engine.store import StoreWriter, connect, store_path
from engine.store.report import wide_console

__all__ = ["COMMANDS"]


@click.command()
@store_option
@click.option("--kind", type=click.Choice(FAILURE_KINDS), default=None,
              help="Only failures of this kind.")
@click.option("--since", type=Duration(), default=None, help="Only failures seen this recently (e.g. 7d).")
def failures(store, kind, since) -> None:
    """The distinct failures in the store, newest first."""
    try:
        connection = connect(store)
    except JourneysError as error:
        fail(error)
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


@click.command()
@click.argument("failure_id")
@store_option
def show(failure_id, store) -> None:
    """A failure's minimal reproduction as numbered steps, with requests and responses."""
    try:
        connection, row, failure = _stored_failure(store, failure_id)
    except JourneysError as error:
        fail(error)
    lifecycle = connection.execute("SELECT status FROM failure_lifecycle WHERE fingerprint = ?",
                                   [failure.id]).fetchone()
    replays = connection.execute(
        "SELECT replayed_at, target, verdict, replays_failed, replays_run FROM replays "
        "WHERE fingerprint = ? ORDER BY replayed_at", [failure.id]).fetchall()
    print_failure(wide_console(), row, failure, lifecycle[0] if lifecycle else None, replays,
                  creating_journey_cleanups(connection, failure))


@click.command()
@click.argument("failure_id")
@click.option("--target", required=True, help="'demo' or the base URL to replay against.")
@click.option("--model", "model_spec", default=None, metavar="MODEL",
              help="The model file, needed only when the failing check is model code "
                   "[default: the one the failing run used].")
@click.option("--times", type=click.IntRange(min=1, max=100), default=5, show_default=True)
@local_store_option
@click.option("--demo-bugs/--no-demo-bugs", default=True, show_default=True,
              help="With --target demo: keep the demo's seeded bugs, or run a fixed build.")
@click.option("--setup/--no-setup", default=False, show_default=True,
              help="Left-behind state: walk the journey that left the data first (re-creates it on --target).")
@rate_option
@credential_option
@alert_options
def replay(failure_id, target, model_spec, times, store, demo_bugs, setup, rate, credentials, **alerting) -> None:
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
            model = load_valid_model(model_spec)
        opened = open_target(target, demo_bugs=demo_bugs)
        preflight(opened, rate_cap=rate_cap)
    except JourneysError as error:
        fail(error)
    run_id = "replay-" + uuid.uuid4().hex[:8]
    bus = EventBus([StoreWriter(store_path(store))])
    try:
        found = connection.execute("SELECT model FROM runs_started WHERE run_id = ?", [row["last_run_id"]]).fetchone()
        dispatcher = open_alerts(alert_settings(**alerting), store, run_id=run_id,
                                 model=(found[0] if found and found[0] else "the model"), target=opened.label)
    except JourneysError as error:
        bus.close()
        opened.close()
        fail(error)
    if dispatcher is not None:
        bus.subscribe(dispatcher)  # a fixed verdict resolves what was triggered for this failure
    try:
        try:  # a store from before the setup column cannot have confirmed it
            confirmed = bool(connection.execute(
                "SELECT count(*) FROM replays WHERE fingerprint = ? AND setup AND verdict = 'still failing'",
                [failure.id]).fetchone()[0])
        except duckdb.Error:
            confirmed = False
        finished = replay_stored(failure, model=lambda: model, client=TargetClient(opened.client, run_id=run_id,
                                                                             rate_cap=rate_cap,
                                                                             credentials=Credentials(credentials)),
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


@click.command()
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
        fail(error)
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


COMMANDS = (failures, show, replay, export)
