"""``journeys cleanup``: remove what crashed or killed runs left on the target, from the ledger.

With ``--store s3://BUCKET/PREFIX`` (where runs mirror their stores) it sweeps from the ledgers the
runs copied there, from any machine (a pod that crashed took its volume with it), and copies its
own record of what it removed back, so a second sweep from anywhere sends nothing.

Exit codes: 0 nothing was left or everything left is removed now; 1 some entries could not be
removed (they stay open for the next sweep); 2 usage or configuration error.
"""

from __future__ import annotations

import datetime
import shutil
import sys
import tempfile
from pathlib import Path

import attrs
import click

from engine.cli.options import credential_option, fail, load_valid_model, rate_option, store_option
from engine.errors import ConfigError, JourneysError
from engine.http.breaker import BreakerSettings
from engine.http.client import TargetClient, open_target
from engine.http.credentials import Credentials
from engine.http.rate import RateCap, parse_rate
from engine.store import store_path
from engine.store.ledger import Ledger, LedgerEntry, LedgerRun, LedgerWriter, ledger_dir, read_ledger
from engine.store.reader import chosen_store
from engine.store.remote import RemoteStore, is_remote, remote_store
from engine.walk.explorer import default_user_agent
from engine.walk.sweep import Sweep, SweepOutcome, sweep_id

__all__ = ["cleanup"]


@attrs.frozen
class _Sending:
    """How the sweep's requests go: the cap, the timeout, the credentials @model.cleanup_login may read."""

    rate: str | None
    timeout_s: float
    credentials: Credentials


_SKIP = {"running": "it is still running on this host (its journeys clean up after themselves)",
         "unknown": "it ran on another host and has no end; it may still run there (--run ID sweeps it)"}


@click.command()
@click.argument("model_spec", metavar="[MODEL]", required=False)
@store_option
@click.option("--run", "run_ids", multiple=True, metavar="ID", help="Sweep this run (repeatable).")
@click.option("--all", "all_runs", is_flag=True,
              help="Sweep every run that is over (finished, or died on this host).")
@click.option("--target", default=None,
              help="The base URL to send the clean-ups to [default: the one each run used].")
@click.option("--dry-run", is_flag=True, help="List what would be sent; send nothing.")
@rate_option
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.01), default=10.0, show_default=True,
              metavar="SECONDS", help="Seconds to wait for each answer.")
@credential_option
def cleanup(model_spec, store, run_ids, all_runs, target, dry_run, rate, timeout_s, credentials) -> None:
    """Remove what crashed or killed runs left on the target (the clean-up ledger's open entries).

    Newest first; signed-in clean-ups are sent after MODEL's @model.cleanup_login has signed the
    actor in again [MODEL default: the model file each run used]. Safe to repeat.
    """
    try:
        remote = remote_store(chosen_store(store)).require() if is_remote(chosen_store(store)) else None
        ledger = remote.ledger() if remote else read_ledger(store_path(store))
    except ConfigError as error:
        fail(error)
    except Exception as error:  # noqa: BLE001 - a bucket that cannot be read: one line
        fail(ConfigError(f"cannot read the clean-up ledger at {chosen_store(store)!r}: {str(error).splitlines()[0]}"))
    root = Path(tempfile.mkdtemp(prefix="journeys-sweep-")) if remote else store_path(store)
    try:
        _cleanup(ledger, root, model_spec, run_ids, all_runs, target, dry_run,
                 _Sending(rate, timeout_s, Credentials(credentials)))
    finally:
        if remote is not None:
            _publish(remote, root)


def _publish(remote: RemoteStore, root: Path) -> None:
    """Copy the sweep's ledger file to the bucket, so the next sweep from anywhere knows what it did."""
    try:
        for path in sorted(ledger_dir(root).glob("*.jsonl")):
            remote.put(path, f"ledger/{path.name}")
    except Exception as error:  # noqa: BLE001 - the removals happened; a second sweep finds them gone (404)
        click.echo(f"journeys: warning: could not copy the sweep's record to {remote.url}: {error}", err=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _cleanup(ledger: Ledger, root: Path, model_spec, run_ids, all_runs, target, dry_run, sending) -> None:
    if ledger.malformed:
        click.echo(f"journeys: warning: {ledger.malformed} ledger line(s) could not be read", err=True)
    open_runs = {entry.run_id for entry in ledger.open_entries()}
    if not run_ids and not all_runs:
        listing = "; ".join(f"{run} ({_state(ledger, run)}, {len(ledger.open_entries(run))} open)"
                            for run in sorted(open_runs)) or "none has anything open"
        raise click.UsageError(f"say which runs to sweep: --run ID or --all. Runs with open clean-ups: {listing}")
    unknown = [run for run in run_ids if run not in ledger.runs and run not in open_runs]
    if unknown:
        raise click.UsageError(f"no run {', '.join(unknown)} in the clean-up ledger")
    chosen = sorted(set(run_ids) or open_runs)
    sweeping: list[str] = []
    for run in chosen:
        state = _state(ledger, run)
        if state in _SKIP and (state == "running" or not run_ids):
            click.echo(f"run {run}: skipped: {_SKIP[state]}")
        elif ledger.open_entries(run):
            sweeping.append(run)
    entries = [entry for entry in ledger.open_entries() if entry.run_id in sweeping]
    if not entries:
        click.echo("nothing left to clean up")
        return
    try:
        outcomes = _sweep_runs(ledger, entries, root=root, model_spec=model_spec, target=target,
                               dry_run=dry_run, sending=sending)
    except JourneysError as error:
        fail(error)
    if dry_run:
        click.echo(f"{len(entries)} clean-up(s) would be sent (dry run: nothing sent)")
        return
    removed = sum(o.removed and not o.already_gone for o in outcomes)
    gone = sum(o.already_gone for o in outcomes)
    left = [o for o in outcomes if not o.removed]
    click.echo(f"removed {removed}, already gone {gone}, not removed {len(left)}"
               + (" (still open: run journeys cleanup again once the reason is fixed)" if left else ""))
    sys.exit(1 if left else 0)


def _state(ledger: Ledger, run_id: str) -> str:
    run = ledger.runs.get(run_id)
    return run.state() if run is not None else "unknown"


def _sweep_runs(ledger: Ledger, entries: list[LedgerEntry], *, root, model_spec, target, dry_run,
                sending) -> list[SweepOutcome]:
    by_target: dict[str, list[LedgerEntry]] = {}
    for entry in entries:  # newest first within each target
        run = ledger.runs.get(entry.run_id) or LedgerRun(run_id=entry.run_id)
        by_target.setdefault(target or run.target or "", []).append(entry)
    identity = sweep_id()
    writer = LedgerWriter(root, name=identity)
    outcomes: list[SweepOutcome] = []
    try:
        for spec, group in by_target.items():
            _print_runs(ledger, group, spec)
            if not spec:
                raise ConfigError(f"run {group[0].run_id} did not record its target; pass --target URL")
            if spec.startswith("demo"):
                click.echo("  the in-process demo ended with its run: nothing outlived it")
                if not dry_run:
                    for entry in group:
                        writer.write({"kind": "withdrawn", "id": entry.id, "reason": "in-process target",
                                      "by": identity}, run_id=identity)
                continue
            if dry_run:
                for entry in group:
                    click.echo(f"  would send {entry.method} {entry.path}  ({_origin(entry)})")
                continue
            outcomes += _sweep_target(spec, group, ledger, writer, identity, model_spec, sending)
    finally:
        writer.close()
    return outcomes


def _sweep_target(spec, group, ledger, writer, identity, model_spec, sending: _Sending) -> list[SweepOutcome]:
    model = _model_for(model_spec, group, ledger)
    if model is not None:
        sending.credentials.check(model.actors, model=model.name)  # before anything is sent
    opened = open_target(spec, timeout_s=sending.timeout_s)
    try:
        client = TargetClient(opened.client, run_id=identity, user_agent=default_user_agent(identity),
                              rate_cap=RateCap(parse_rate(sending.rate)) if sending.rate else None,
                              breaker=BreakerSettings(), credentials=sending.credentials)
        return Sweep(client=client, model=model, ledger=writer, run_id=identity,
                     on_outcome=_print_outcome).run(group)
    finally:
        opened.close()


def _model_for(model_spec, group: list[LedgerEntry], ledger: Ledger):
    """MODEL if given, else the model file the runs used; only needed to sign actors in again."""
    if not any(entry.signed_in for entry in group):
        return None
    files = {ledger.runs[e.run_id].model_file for e in group if e.run_id in ledger.runs} - {""}
    spec = model_spec or (files.pop() if len(files) == 1 else None)
    if spec is None:
        return None
    try:
        return load_valid_model(spec)
    except JourneysError as error:
        raise ConfigError(f"cannot load the model to sign in again ({error}); pass MODEL") from None


def _print_runs(ledger: Ledger, group: list[LedgerEntry], spec: str) -> None:
    for run_id in sorted({entry.run_id for entry in group}):
        run = ledger.runs.get(run_id) or LedgerRun(run_id=run_id)
        started = (datetime.datetime.fromtimestamp(run.started_at, datetime.timezone.utc)
                   .strftime("%Y-%m-%d %H:%M UTC") if run.started_at else "start unknown")
        count = sum(entry.run_id == run_id for entry in group)
        click.echo(f"run {run_id} ({run.state()}, started {started}, {spec or 'target unknown'}): "
                   f"{count} open clean-up(s)")


def _origin(entry: LedgerEntry) -> str:
    how = "signed in" if entry.signed_in else "anonymous"
    return f"{entry.actor} ({how}), {entry.action} at step {entry.step + 1} of journey {entry.journey}"


def _print_outcome(outcome: SweepOutcome) -> None:
    entry = outcome.entry
    label = "already gone" if outcome.already_gone else ("removed" if outcome.removed else "not removed")
    status = f" -> {outcome.status}" if outcome.status is not None else ""
    why = f": {outcome.reason}" if not outcome.removed else ""
    click.echo(f"  {label:<12} {entry.method} {entry.path}{status}  ({_origin(entry)}){why}")
