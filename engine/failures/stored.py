"""Failures as the store keeps them: find one by id, rebuild it, replay it anywhere.

The store holds each failure's minimal path as JSON with its secrets masked.
``load_failure`` turns that JSON back into the engine's records, and
``replay_stored`` runs the path again against any target by walking its
exported form (``engine.export.script``: secrets from the environment or made up,
ids from the responses that hand them out). Only a failing check in model
code sends it through the model instead, where a masked value (a password the
run generated) is replaced by a fresh random one, which is all a journey
needs, since later steps read it from the actor's memory.
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Any, Callable

import attrs
import duckdb

from engine.errors import ConfigError
from engine.events import ReplayFinished
from engine.walk.journey import Tagger
from engine.model.declare import Model
from engine.records import CheckRecord, Failure, Fingerprint, LeftBehind, RequestRecord, StepRecord
from engine.redact import MASK, redact_text
from engine.walk.replay import ReplayMismatch, Tally, replay_steps, replay_tally
from engine.export.script import build_script
from engine.export.script_walk import walk_script
from engine.store.reader import chosen_store, connect
from engine.store.remote import is_remote, remote_store
from engine.store import store_path
from engine.http.client import TargetClient

__all__ = ["find_failure", "known_failures", "stored_known_failures", "fixed_failures", "load_failure", "needs_model", "replay_stored", "unmask", "verdict"]


def find_failure(connection: duckdb.DuckDBPyConnection, failure_id: str) -> dict[str, Any]:
    """The ``failures`` row whose fingerprint starts with ``failure_id`` (at least 4 characters)."""
    if len(failure_id) < 4:
        raise ConfigError(f"failure id {failure_id!r} is too short; give at least 4 characters")
    cursor = connection.execute(
        "SELECT * FROM failures WHERE starts_with(fingerprint, ?) ORDER BY last_seen DESC",
        [failure_id.lower()])
    columns = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    if not rows:
        raise ConfigError(f"no failure {failure_id!r} in the store; `journeys failures` lists them")
    if len({row[0] for row in rows}) > 1:
        raise ConfigError(f"failure id {failure_id!r} is ambiguous: "
                          + ", ".join(sorted({row[0] for row in rows})))
    return dict(zip(columns, rows[0]))


def known_failures(connection: duckdb.DuckDBPyConnection, model: str | None = None) -> list[Failure]:
    """Every failure the store holds (found by runs of ``model``, if given), newest first; one that
    cannot be read is left out."""
    failures = []
    for (reproduction,) in connection.execute("""
            SELECT reproduction FROM failures
            WHERE reproduction IS NOT NULL AND ($model IS NULL OR fingerprint IN (
                SELECT f.fingerprint FROM failures_found f JOIN runs_started r USING (run_id)
                WHERE r.model = $model))
            ORDER BY last_seen DESC""", {"model": model}).fetchall():
        try:
            failures.append(load_failure(reproduction)[0])
        except (ValueError, KeyError, TypeError):
            continue
    return failures


def stored_known_failures(store, model: str) -> list[Failure]:
    """``known_failures`` of ``model`` read afresh from the store at ``store`` (a connection of its own)."""
    connection = connect(store)
    try:
        return known_failures(connection, model)
    finally:
        connection.close()


def stored_failures_token(store) -> tuple[str, ...] | None:
    """What changes whenever a failure is stored: the names of the ``failures_found`` segments.
    Listing a folder costs microseconds; reading the store costs a connection and a query (about
    0.1 s of CPU), which a worker asking every few seconds should spend only when it is worth it.
    A bucket (``s3://``) is listed the same way, one request."""
    if is_remote(chosen_store(store)):
        try:
            return tuple(sorted(remote_store(chosen_store(store)).listing("failures_found")))
        except Exception:  # noqa: BLE001 - unreachable for now: read the store, as without a token
            return None
    try:
        return tuple(sorted(os.listdir(store_path(store) / "failures_found")))
    except OSError:
        return None


def fixed_failures(connection: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """The fingerprints whose lifecycle in the store is *fixed* (a replay passed since they last failed)."""
    return frozenset(row[0] for row in connection.execute(
        "SELECT fingerprint FROM failure_lifecycle WHERE status = 'fixed'").fetchall())


def load_failure(reproduction: str) -> tuple[Failure, dict[str, Any]]:
    """The ``Failure`` stored as JSON, and the JSON itself (for showing and exporting)."""
    data = json.loads(reproduction)
    fingerprint = Fingerprint(**{k: data["fingerprint"][k] for k in ("action", "check", "status")})
    steps = tuple(_step(step) for step in data["steps"])
    fields = {f.name for f in attrs.fields(Failure)} - {"fingerprint", "steps", "left_behind"}
    rest = {k: data[k] for k in fields if k in data}
    rest["notes"] = tuple(rest.get("notes", ()))
    failure = Failure(fingerprint=fingerprint, steps=steps, left_behind=_left_behind(data.get("left_behind")),
                      **rest)
    return failure, data


def _left_behind(data: dict[str, Any] | None) -> LeftBehind | None:
    if not data:
        return None
    fields = {f.name for f in attrs.fields(LeftBehind)} - {"steps"}
    return LeftBehind(steps=tuple(_step(step) for step in data.get("steps", ())),
                      **{k: data[k] for k in fields if k in data})


def _step(data: dict[str, Any]) -> StepRecord:
    requests = tuple(RequestRecord(**{**request, "links": tuple(request.get("links", ()))})
                     for request in data["requests"])
    checks = tuple(CheckRecord(**{**check, "links": tuple(check.get("links", ()))}) for check in data["checks"])
    rest = {k: v for k, v in data.items() if k not in ("requests", "checks")}
    for name in ("tags", "reads", "writes", "requires", "cleanup_requests"):
        rest[name] = tuple(rest.get(name, ()))
    rest["cancelled_cleanups"] = tuple(tuple(pair) for pair in rest.get("cancelled_cleanups", ()))
    return StepRecord(requests=requests, checks=checks, **rest)


def unmask(steps: tuple[StepRecord, ...]) -> tuple[StepRecord, ...]:
    """The steps with each masked value of their data replaced by a fresh random secret."""

    def fresh(value: Any) -> Any:
        if value == MASK:
            return "Rp-" + secrets.token_urlsafe(12)
        if isinstance(value, dict):
            return {k: fresh(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fresh(v) for v in value]
        return value

    return tuple(attrs.evolve(step, data=fresh(step.data)) for step in steps)


def needs_model(failure: Failure) -> bool:
    """Whether only the model can decide the failing check (a condition or an error in its code)."""
    return build_script(failure).needs_model


def _walk_tally(script, client: TargetClient, times: int, setup: bool) -> Tally:
    failed = passed = inconclusive = 0
    notes: list[str] = []
    while failed + passed < times and failed + passed + inconclusive < times * 3:
        outcome = walk_script(script, client, setup=setup)
        if outcome.verdict == "reproduced":
            failed += 1
        elif outcome.verdict == "not reproduced":
            passed += 1
        else:
            inconclusive += 1
            notes.append(redact_text(outcome.message))
    return Tally(failed=failed, passed=passed, inconclusive=inconclusive, notes=tuple(dict.fromkeys(notes)))


def _model_tally(failure: Failure, model: Model, client: TargetClient, times: int, emit, run_id: str,
                 setup: bool) -> Tally:
    tagger = Tagger(run_id)
    journeys = iter(range(1, times * 6 + 1))

    def walk(walks):
        """Each setup walk is a whole journey (clean-ups included: what it leaves behind is what
        they leave), then the failing path."""
        for _, steps in walks[:-1]:
            failed = replay_steps(unmask(steps), model=model, client=client, emit=emit, run_id=run_id,
                                  journey=next(journeys), tagger=tagger)
            if failed is not None:
                raise ReplayMismatch(f"the setup journey failed ({failed.fingerprint})")
        return replay_steps(unmask(walks[-1][1]), model=model, client=client, emit=emit, run_id=run_id,
                            journey=next(journeys), tagger=tagger)

    walks = failure.walks if setup else failure.walks[-1:]
    return replay_tally(lambda: walk(walks), failure.id, times, extra_attempts=times * 2)


def verdict(failed: int, conclusive: int) -> str:
    if conclusive == 0:
        return "inconclusive"
    if failed == conclusive:
        return "still failing"
    return "fixed" if failed == 0 else "flaky"


def replay_stored(failure: Failure, *, model: Callable[[], Model], client: TargetClient, target_label: str,
                  times: int, emit, run_id: str, setup: bool = False,
                  setup_confirmed: bool = False) -> ReplayFinished:
    """Replay ``failure``'s path ``times`` times; emits and returns a ``ReplayFinished``.

    The path walked is the exported form (``engine.export.script``): the same requests, links and
    checks as ``journeys export`` writes, so replay and exports cannot disagree. Only when the
    failing check is model code (a condition, or an error in the action), which a script cannot
    evaluate, is the path replayed through the model (``model`` loads it).

    For left-behind state with ``setup``, each replay first walks the journey that
    left the data (with its clean-ups), then the failing path.
    That re-creates the offending data on the target, so it is never the default:
    without it, a left-behind failure whose path passes is *inconclusive* (the bug
    may be fixed, or the data gone), never fixed. With it, a passing path is
    *fixed* only once the setup is known to bring the failure back
    (confirmed by the run's experiment, or ``setup_confirmed``: an earlier ``--setup`` replay was
    still failing);
    otherwise the setup may simply have re-created the wrong data.

    A replay counts as failing only when it fails the same way; one that cannot walk to the
    failing step is inconclusive and tried again, up to 3x ``times``.
    """
    script = build_script(failure)
    final = script.failing_step.final
    if not script.needs_model:
        tally = _walk_tally(script, client, times, setup)
        how = "walked the exported form (what `journeys export` writes)"
    else:
        tally = _model_tally(failure, model(), client, times, emit, run_id, setup)
        kind = final.record.kind if final is not None else "unknown"
        how = (f"replayed through the model: the failing check is a {kind} check in model code, "
               "which the exported form cannot evaluate")
    tally = attrs.evolve(tally, notes=(how, *tally.notes))
    failed, conclusive, other = tally.failed, tally.conclusive, list(tally.notes)
    said = verdict(failed, conclusive)
    if failure.left_behind is not None and not failure.left_behind.steps and said != "still failing":
        said = "inconclusive"
        other.append(f"left-behind state from an earlier run (run {failure.left_behind.run_id}): only the failing "
                     "path can be walked (that run's journeys are not kept), and it does not fail on a target "
                     "without the data")
    elif failure.left_behind is not None and not setup and said != "still failing":
        said = "inconclusive"
        other.append(f"left-behind state: without --setup only the failing path was walked, and it does "
                     f"not fail on a target without the data; --setup walks journey "
                     f"{failure.left_behind.journey} first, which re-creates that data (use a target of "
                     f"your own, not production)")
    elif failure.kind == "intermittent" and said == "fixed":
        said = "inconclusive"
        other.append(f"intermittent: it passed {conclusive} replay(s) out of {conclusive}, as it sometimes did "
                     "when found; passing replays do not show an intermittent failure fixed")
    elif failure.left_behind is not None and said == "fixed" and not (setup_confirmed
                                                                     or failure.left_behind.confirmed):
        said = "inconclusive"
        other.append("suspected left-behind state: the path passed after the setup, but neither an experiment "
                     "nor an earlier --setup replay has shown that this setup brings the failure back, so the "
                     "setup may have re-created the wrong data; "
                     "replay with --setup against a target that still has the bug first")
    finished = ReplayFinished(run_id=run_id, fingerprint=failure.id, target=target_label, times=times,
                              replays_run=conclusive, replays_failed=failed,
                              verdict=said, notes=tuple(dict.fromkeys(other)), setup=setup)
    emit(finished)
    return finished
