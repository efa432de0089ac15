"""The ``journeys`` command line: explore, report, sql, failures, show, replay, export,
validate, graph, demo serve.

Exit codes: 0 no failure found, 1 failures found, 2 usage, configuration or
model error. Every error the tool expects (a missing model file, a broken
model, a bad flag, an unreachable target) is one clear line, not a traceback.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import click
import duckdb

from engine import __version__
from engine.cli.cleanup_command import cleanup
from engine.cli.demo_command import demo
from engine.cli.failure_commands import COMMANDS
from engine.cli.model_commands import graph, validate
from engine.cli.project import DEFAULT_PROJECT, default_map, effective_settings, load_project
from engine.cli.heartbeat import STORE_BEAT_S, Heartbeat
from engine.cli.alert_options import alert_options, alert_settings, alerts, open_alerts
from engine.cli.options import (Duration, coverage_options, credential_option, fail, load_valid_model,
                                local_store_option, rate_option, schedule_options, store_option)
from engine.cli.stopping import stopping_well
from engine.cli.terminal import TerminalView
from engine.cli.workers import parse_worker, run_workers, shard_spec
from engine.errors import ConfigError, JourneysError
from engine.failures.earlier_runs import EarlierRuns
from engine.events import EventBus
from engine.export.report_json import JsonReport
from engine.export.reproductions import ReproductionWriter
from engine.http.breaker import BreakerSettings
from engine.http.client import allowed_host, open_target, preflight
from engine.http.credentials import Credentials
from engine.http.schedule import rate_cap_for
from engine.store import StoreWriter, connect, store_path
from engine.store.reader import chosen_store
from engine.store.heartbeats import heartbeats_dir
from engine.store.ledger import read_ledger
from engine.store.remote import is_remote, remote_store
from engine.store.report import print_cleanups, print_report, print_table
from engine.failures.stored import fixed_failures, known_failures, stored_failures_token, stored_known_failures
from engine.walk.coverage import UNBOUNDED_JOURNEYS
from engine.walk.heap import settle_allocators
from engine.walk.explorer import ExploreSettings, Explorer, default_user_agent

__all__ = ["main", "cli"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="journeys")
@click.option("--project", default=None, metavar="FILE", envvar="JOURNEYS_PROJECT",
              help=f"The project file: settings for every command, each overridden by its flag "
                   f"[default: ./{DEFAULT_PROJECT} if there is one].")
@click.pass_context
def cli(ctx: click.Context, project: str | None) -> None:
    """Property-based user journeys, walked against a live target."""
    path = project or (DEFAULT_PROJECT if os.path.exists(DEFAULT_PROJECT) else None)
    ctx.obj = {"project": path, "settings": {}}
    if path is None:
        return
    try:
        settings = load_project(path)
    except JourneysError as error:
        fail(error)
    ctx.obj["settings"] = settings
    ctx.default_map = default_map(settings, cli.commands)


@cli.command()
@click.argument("model_spec", metavar="MODEL", required=False)
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
@schedule_options
@click.option("--mask-field", "mask_fields", multiple=True, metavar="NAME|PATH",
              help="A response field to mask in everything journeys keeps or shows (repeatable): a name at any "
                   "depth (customer_name) or a dotted path with * (users.*.phone).")
@click.option("--no-mask-contacts", is_flag=True,
              help="Keep emails and phone numbers in responses (masked by default unless journeys made them).")
@click.option("--probe-path", default="/", show_default=True, metavar="PATH",
              help="What the circuit breaker GETs to ask whether the target is up (any answer but 502/503/504).")
@click.option("--breaker-after", type=click.IntRange(min=1), default=5, show_default=True, metavar="N",
              help="Unavailable answers in a row (none, or 502/503/504) after which the breaker probes the target.")
@click.option("--breaker-max-wait", type=Duration(), default="60s", show_default=True,
              help="Longest pause between two probes while the target is down.")
@click.option("--breaker-slow", type=Duration(), default=None,
              help="A median answer slower than this over the last 20 requests (and a probe slower than this) "
                   "also counts as the target being down [default: latency alone never trips it].")
@click.option("--no-breaker", is_flag=True,
              help="No circuit breaker: a target that stops answering is reported as failures.")
@click.option("--reset/--no-reset", default=True, show_default=True,
              help="Use the model's @model.reset (if it declares one) to confirm left-behind state by experiment; "
                   "--no-reset on a target that must not be reset.")
@click.option("--out", "out_dir", default="reproductions", show_default=True,
              help="Folder for the standalone pytest reproductions.")
@click.option("--heartbeat", "heartbeat_path", default=None, metavar="FILE",
              help="Keep FILE (JSON: time, uptime, journeys, steps/s, failures, state) up to date for a monitor.")
@click.option("--heartbeat-every", type=Duration(), default="30s", show_default=True,
              help="How often the heartbeat file is written.")
@click.option("--forever", is_flag=True,
              help="Continuous: explore in rounds until stopped (or --duration), past the failures the store "
                   "already knows (they are not shrunk or reported again; they are re-checked).")
@click.option("--recheck-every", "recheck_every", type=Duration(), default="1h", show_default=True,
              help="Continuous: replay the store's known failures at the start and this often, so the store "
                   "knows which are still failing, fixed, or regressed.")
@click.option("--recheck-times", type=click.IntRange(min=1, max=100), default=3, show_default=True,
              help="Replays of each known failure in one re-check.")
@click.option("--no-recheck", is_flag=True, help="Continuous: never re-check the known failures.")
@click.option("--known-refresh-every", "known_refresh", type=Duration(), default="60s", show_default=True,
              help="Continuous: read the failures other runs stored this often; they are known from then on.")
@click.option("--examples-db", default=".journeys/examples", show_default=True,
              help="Hypothesis example database, so known failures are tried first next time.")
@click.option("--no-examples-db", is_flag=True, help="Do not read or write the example database.")
@click.option("--json", "json_path", default=None, help="Also write the outcome as JSON to this file.")
@click.option("--demo-bugs/--no-demo-bugs", default=True, show_default=True,
              help="With --target demo: keep the demo's seeded bugs, or run a fixed build.")
@local_store_option
@click.option("--no-store", is_flag=True, help="Do not log this run to the store.")
@click.option("--mirror", default=None, metavar="s3://BUCKET/PREFIX",
              help="Also copy this run's store files to object storage as they are written (journeys[s3]), where "
                   "report, sql, failures and notebooks read them: one store for runs on many machines.")
@alert_options
@coverage_options
@credential_option
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes exploring at once (a served target only), sharing one rate cap, one store and "
                   "one set of failures; --journeys is split between them.")
@click.option("--worker", "worker", default=None, hidden=True,
              callback=lambda ctx, param, value: parse_worker(value) if value else None)
@click.option("--shard", default=None, metavar="I/N",
              help="One of N pieces of a run started by a scheduler (a Kubernetes Job, a CI matrix), with --group; "
                   "they share one cap, one set of failures and --journeys (split); each may have --workers.")
@click.option("--group", default=None, metavar="NAME", help="With --shard: the name all the pieces share.")
@click.option("--redis", "redis_url", default=None, metavar="URL",
              help="With --shard: keep the shared cap and claims in Redis (redis://HOST:PORT/DB), for pieces on "
                   "several machines [default: in the store's folder, for pieces on one machine].")
def explore(model_spec, target, journeys, max_steps, seed, duration, replays, shrink_budget, allow_hosts,
            run_header, user_agent, timeout_s, rate, schedule, timezone_name, mask_fields, no_mask_contacts,
            probe_path, breaker_after, breaker_slow, breaker_max_wait, no_breaker, reset, out_dir, forever,
            heartbeat_path, heartbeat_every, recheck_every, recheck_times, no_recheck, known_refresh,
            examples_db, no_examples_db, json_path, demo_bugs, store, no_store, mirror, workers, worker, shard,
            group, redis_url, strategy, until, credentials, **alerting) -> None:
    """Explore MODEL (a .py file under models/, or the project file's model) against --target."""
    settle_allocators()  # a long run's heap creeps less (engine.walk.heap)
    if model_spec is None:
        raise click.UsageError(f"give MODEL (a model file), or set model = \"models/....py\" in {DEFAULT_PROJECT}")
    if worker is not None:
        workers = 1  # a worker of --workers (the project file's `workers` is its parent's)
    if until and click.get_current_context().get_parameter_source("journeys").name == "DEFAULT":
        journeys = UNBOUNDED_JOURNEYS  # --until decides, with --duration (a journey budget only if one is given)
    if mirror and (no_store or not is_remote(mirror)):
        raise click.UsageError(f"--mirror {mirror}: write s3://BUCKET/PREFIX" if not no_store else
                               "--mirror copies the store: it cannot go with --no-store")
    if worker is not None and redis_url:
        worker.redis = redis_url  # a worker of a shard's --workers: its cap and claims are the shard's Redis
    try:
        worker = worker or shard_spec(shard, group, redis_url, store_path(store))
    except ConfigError as error:
        fail(error)
    if worker is not None and worker.shard:
        journeys = -(-journeys // worker.count)  # this piece's part of the budget
        seed = None if seed is None else seed + (worker.index - 1) * workers  # its workers' seeds follow
    if workers > 1 and target == "demo":
        raise click.UsageError("--workers needs a served target: run `journeys demo serve` and give its URL "
                               "(--target demo would start a separate demo shop inside each worker)")
    try:
        rate_cap = rate_cap_for(rate, schedule, timezone_name, shared_state=worker.rate_state if worker else None)
        model = load_valid_model(model_spec)
        Credentials(credentials).check(model.actors, model=model.name)  # named actors, variables set
        opened = open_target(target, seed=seed or 0, demo_bugs=demo_bugs, timeout_s=timeout_s)
        for host in allow_hosts:
            allowed_host(host)  # a bad --allow-host is a usage error before anything is sent
        run_id = uuid.uuid4().hex[:12]
        tagging = {"User-Agent": user_agent or default_user_agent(run_id),
                   **({run_header: run_id} if run_header else {})}
        if worker is None or worker.shard:  # the parent of --workers asked the target once for all of them
            preflight(opened, headers=tagging, rate_cap=rate_cap)
    except JourneysError as error:
        fail(error)
    if workers > 1:
        opened.close()
        # Without a store the workers' reports and heartbeats go to a folder of their own, removed after.
        scratch = Path(tempfile.mkdtemp(prefix="journeys-")) if no_store else None
        try:
            code = run_workers(workers, sys.argv[1:], seed=seed if seed is not None else random.randrange(2**31),
                               folder=(scratch or store_path(store)) / "workers" / run_id, journeys=journeys,
                               forever=forever, duration=duration, out_dir=out_dir, json_path=json_path,
                               heartbeat=heartbeat_path, shard=worker)
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        sys.exit(code)
    settings = ExploreSettings(journeys=journeys, max_steps=max_steps, seed=seed, duration_s=duration,
                               replays=replays, database=None if no_examples_db else (
                                   worker.examples_database(examples_db) if worker else examples_db),
                               shrink_budget=shrink_budget, reset=reset, allowed_hosts=tuple(allow_hosts),
                               run_header=run_header, user_agent=user_agent, run_id=run_id, rate=rate,
                               schedule=tuple(schedule), timezone=timezone_name, mask_fields=tuple(mask_fields),
                               mask_contacts=not no_mask_contacts, forever=forever,
                               recheck_every_s=None if no_recheck else recheck_every, recheck_times=recheck_times,
                               known_refresh_s=min(known_refresh, 5.0) if worker else known_refresh,
                               worker=worker.label if worker else None, group=worker.group if worker else None,
                               strategy=strategy, until=until, credentials=tuple(credentials),
                               breaker=None if no_breaker else BreakerSettings(
                                   consecutive=breaker_after, max_wait_s=breaker_max_wait, slow_s=breaker_slow,
                                   probe_path=probe_path if probe_path.startswith("/") else "/" + probe_path))
    view = TerminalView(reproductions_dir=out_dir, worker=worker is not None and not worker.shard)
    writer = ReproductionWriter(out_dir, model=model.name, target=opened.label)
    bus = EventBus([writer, view])
    if json_path:
        bus.subscribe(JsonReport(json_path))
    # One heartbeat per interval: --heartbeat FILE, and the run's row of the store's heartbeats view
    # (a worker of --workers beats its file every second for its parent, its row every 30 s).
    beats: dict[float, list] = {}
    if heartbeat_path:
        beats.setdefault(heartbeat_every, []).append(heartbeat_path)
    if not no_store:
        every = STORE_BEAT_S if worker is not None and not worker.shard else heartbeat_every
        beats.setdefault(every, []).append(heartbeats_dir(store_path(store)) / f"{run_id}.json")
    for every, paths in beats.items():
        try:
            bus.subscribe(Heartbeat(*paths, every_s=every))
        except OSError as error:
            opened.close()
            fail(ConfigError(f"cannot write the heartbeat file {str(error.filename or paths[0])!r}: "
                             f"{error.strerror or error}"))
    if not no_store:
        try:
            store_writer = StoreWriter(store_path(store), mirror=mirror)
            if store_writer.mirror is not None:
                store_writer.mirror.check()  # a bucket that cannot be written is an error before the walk starts
            bus.subscribe(store_writer)
        except OSError as error:
            opened.close()
            fail(ConfigError(f"cannot open the store at {str(store_path(store))!r}: {error}"))
        except ConfigError as error:
            opened.close()
            fail(error)
    try:
        dispatcher = open_alerts(alert_settings(**alerting), store, run_id=run_id, model=model.name,
                                 target=opened.label)
    except JourneysError as error:
        opened.close()
        fail(error)
    if dispatcher is not None:
        bus.subscribe(dispatcher)  # it queues; its own thread delivers, so a slow sink never slows the walk
    known, fixed = (), frozenset()
    shared = mirror or store  # with --mirror, the bucket is where runs on other machines left their failures
    if forever:
        try:
            connection = connect(shared)
            try:
                known, fixed = tuple(known_failures(connection, model.name)), fixed_failures(connection)
            finally:
                connection.close()  # read once; a days-long run does not keep a database open for it
        except JourneysError:
            pass  # a store with nothing in it yet
    explorer = Explorer(model, opened, bus, settings, rate_cap=rate_cap, known=known, fixed=fixed,
                        stored_failures=None if no_store else lambda: stored_known_failures(shared, model.name),
                        stored_token=lambda: stored_failures_token(shared),
                        earlier=None if no_store or opened.in_process else EarlierRuns(
                            store_path(store), target=opened.label, model=model.name, run_id=run_id),
                        claims=worker.claims() if worker else None)
    try:
        with stopping_well(explorer):  # until the store is closed: a signal then is handled too
            try:
                finished = explorer.run()
            finally:
                try:
                    bus.close()
                finally:
                    opened.close()
    except JourneysError as error:
        fail(error)
    except KeyboardInterrupt:  # the second signal came outside a round: the store is closed all the same
        click.echo("journeys: stopped at once; the store keeps what was written", err=True)
        sys.exit(130)
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
        fail(error)
    try:
        result = connection.execute(query)
    except duckdb.Error as error:
        fail(ConfigError(f"query failed: {str(error).splitlines()[0]}"))
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
        fail(error)
    print_report(connection, since_s=since)
    remote = is_remote(chosen_store(store))
    ledger = remote_store(chosen_store(store)).ledger() if remote else read_ledger(store_path(store))
    print_cleanups(connection, ledger, since_s=since)


@cli.group()
def config() -> None:
    """The project file (journeys.toml)."""


@config.command("check")
@click.pass_context
def config_check(ctx: click.Context) -> None:
    """Check the project file and print the settings a run would use, and where each comes from."""
    path, settings = ctx.obj["project"], ctx.obj["settings"]
    click.echo(f"project file: {path}" if path else f"no project file ({DEFAULT_PROJECT}) here: the defaults")
    rows = effective_settings(settings, explore)
    width = max(len(key) for key, _, _ in rows)
    for key, value, source in rows:
        click.echo(f"{key.ljust(width)}  {value or '-'}  ({source})")


for command in (*COMMANDS, cleanup, alerts, demo, validate, graph):
    cli.add_command(command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
