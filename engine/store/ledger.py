"""The clean-up ledger: what each run created on the target and what removes it, kept where a crash
cannot lose it.

    journeys-store/ledger/
      3f2a9c1d0e7b.jsonl     one run's ledger, one JSON object per line
      sweep-5d1e0a9b.jsonl   what one ``journeys cleanup`` removed

A run's file starts with a ``run`` line (host, pid, target, model file), then, as they happen:
``registered`` (a step said what removes what it created: method, path, the actor and how it was
signed in, never the credential), ``withdrawn`` (no longer needed), ``cleaned`` (the clean-up was
sent: its status, and whether it removed the thing) and finally ``end``. Each line is written and
flushed before the walk goes on, unlike the Parquet tables (flushed every few seconds): a
``kill -9`` right after a step loses nothing the step registered. A sweep appends only to a file of
its own, so the ledger, like the rest of the store, is never modified in place.

An entry is *open* until a ``withdrawn`` line or a ``cleaned`` line that removed it, in any file.
A run with no ``end`` line either still runs or died: on this host the pid tells which.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import IO, Any, Iterable

import attrs

from engine.events import (CleanupFinished, CleanupRegistered, CleanupWithdrawn, Event, RunFinished,
                           RunStarted)

__all__ = ["LedgerWriter", "LedgerEntry", "LedgerRun", "Ledger", "read_ledger", "parse_ledger", "ledger_dir", "process_alive"]


def ledger_dir(store_root: str | os.PathLike[str]) -> Path:
    return Path(store_root) / "ledger"


class LedgerWriter:
    """Subscribes to the engine's events and appends each clean-up's life to the run's ledger file."""

    def __init__(self, store_root: str | os.PathLike[str], *, name: str | None = None) -> None:
        self.folder = ledger_dir(store_root)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._name = name  # a sweep names its own file; a run's file is named when it starts
        self._file: IO[str] | None = None
        self._run_id: str | None = None
        self._ended = False
        self._lock = threading.Lock()

    def handle(self, event: Event) -> None:
        line = self._line(event)
        if line is not None:
            self.write(line, run_id=event.run_id)

    def write(self, line: dict[str, Any], *, run_id: str) -> None:
        with self._lock:
            if self._file is None:
                path = self.folder / f"{self._name or run_id}.jsonl"
                self._file = open(path, "a", encoding="utf-8")
                self._run_id = run_id
                if line["kind"] != "run" and self._name is None:  # a replay: no RunStarted
                    self._write({"kind": "run", "run_id": run_id, "at": line.get("at"),
                                 "host": socket.gethostname(), "pid": os.getpid()})
            self._write(line)
            if line["kind"] == "end":
                self._ended = True
                os.fsync(self._file.fileno())

    def _write(self, line: dict[str, Any]) -> None:
        assert self._file is not None
        self._file.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
        self._file.flush()  # in the kernel now: a killed process loses nothing

    @staticmethod
    def _line(event: Event) -> dict[str, Any] | None:
        if isinstance(event, CleanupRegistered):
            return {"kind": "registered", "id": event.ledger_id, "run_id": event.run_id, "at": event.at,
                    "journey": event.journey, "phase": event.phase, "actor": event.actor, "step": event.step,
                    "action": event.action, "method": event.method, "template": event.template,
                    "path_vars": event.path_vars, "path": event.path, "auth": event.auth,
                    "crash_only": event.crash_only}
        if isinstance(event, CleanupWithdrawn):
            return {"kind": "withdrawn", "id": event.ledger_id, "at": event.at, "reason": event.reason}
        if isinstance(event, CleanupFinished) and event.ledger_id is not None:
            return {"kind": "cleaned", "id": event.ledger_id, "at": event.at, "status": event.status,
                    "ok": event.ok}
        if isinstance(event, RunStarted):
            return {"kind": "run", "run_id": event.run_id, "at": event.at, "host": socket.gethostname(),
                    "pid": os.getpid(), "target": event.target, "model": event.model,
                    "model_file": event.model_file}
        if isinstance(event, RunFinished):
            return {"kind": "end", "run_id": event.run_id, "at": event.at, "exit_code": event.exit_code}
        return None

    def close(self) -> None:
        """The process ends well (even after an error): the run is over, whatever is still open."""
        if self._file is not None and not self._ended and self._name is None:
            self.write({"kind": "end", "run_id": self._run_id, "at": time.time(), "exit_code": None},
                       run_id=self._run_id or "")
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


@attrs.define
class LedgerEntry:
    """One registered clean-up and what became of it."""

    id: str
    run_id: str
    registered_at: float
    journey: int
    actor: str
    step: int
    action: str
    method: str
    template: str
    path_vars: dict[str, Any]
    path: str
    auth: dict[str, Any] | None
    crash_only: bool
    state: str = "open"  # open, withdrawn, cleaned
    attempts: list[dict[str, Any]] = attrs.field(factory=list)  # cleaned lines that did not remove it

    @property
    def signed_in(self) -> bool:
        return self.auth is not None


@attrs.define
class LedgerRun:
    run_id: str
    host: str = ""
    pid: int = 0
    target: str = ""
    model: str = ""
    model_file: str = ""
    started_at: float = 0.0
    ended: bool = False

    def state(self) -> str:
        """finished, running (on this host), crashed (on this host) or unknown (another host)."""
        if self.ended:
            return "finished"
        if self.host != socket.gethostname():
            return "unknown"
        return "running" if _alive(self.pid) else "crashed"


@attrs.define
class Ledger:
    runs: dict[str, LedgerRun]
    entries: dict[str, LedgerEntry]
    malformed: int = 0  # lines that could not be read (a line cut short by a full disk, say)

    def open_entries(self, run_id: str | None = None) -> list[LedgerEntry]:
        """Still-open entries, newest first: the order a sweep removes them in."""
        chosen = [e for e in self.entries.values() if e.state == "open" and (run_id is None or e.run_id == run_id)]
        return sorted(chosen, key=lambda e: (e.registered_at, e.id), reverse=True)


def read_ledger(store_root: str | os.PathLike[str]) -> Ledger:
    """Every ledger file of the store, folded into runs and entries."""
    folder = ledger_dir(store_root)
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    return parse_ledger(path.read_text(encoding="utf-8") for path in files)


def parse_ledger(texts: Iterable[str]) -> Ledger:
    """The runs and entries the ledger's files (their texts) record."""
    runs: dict[str, LedgerRun] = {}
    entries: dict[str, LedgerEntry] = {}
    settles: list[dict[str, Any]] = []
    malformed = 0
    for whole in texts:
        for text in whole.splitlines():
            try:
                line = json.loads(text)
                kind = line["kind"]
            except (ValueError, KeyError, TypeError):
                malformed += 1
                continue
            if kind == "run":
                runs[line["run_id"]] = LedgerRun(
                    run_id=line["run_id"], host=line.get("host", ""), pid=int(line.get("pid") or 0),
                    target=line.get("target", ""), model=line.get("model", ""),
                    model_file=line.get("model_file", ""), started_at=float(line.get("at") or 0))
            elif kind == "end":
                runs.setdefault(line["run_id"], LedgerRun(run_id=line["run_id"])).ended = True
            elif kind == "registered":
                entries[line["id"]] = LedgerEntry(
                    id=line["id"], run_id=line["run_id"], registered_at=float(line["at"]),
                    journey=line["journey"], actor=line["actor"], step=line["step"], action=line["action"],
                    method=line["method"], template=line["template"], path_vars=line["path_vars"] or {},
                    path=line["path"], auth=line.get("auth"), crash_only=bool(line.get("crash_only")))
            elif kind in ("withdrawn", "cleaned"):
                settles.append(line)
    for line in settles:  # after every registration: a sweep's file may sort before the run's
        entry = entries.get(line.get("id"))
        if entry is None or entry.state != "open":
            continue
        if line["kind"] == "withdrawn":
            entry.state = "withdrawn"
        elif line.get("ok"):
            entry.state = "cleaned"
        else:
            entry.attempts.append(line)
    return Ledger(runs=runs, entries=entries, malformed=malformed)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (a zombie, killed but not yet reaped, does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


process_alive = _alive  # also what decides whether a worker's claim (engine.walk.claims) is still held
