"""Which worker investigates a failure: the first to claim it; the others step past it.

Workers of one run (``--workers N``) walk the same model against the same target, so two of them
often meet the same bug within seconds. Shrinking and replaying it twice would double the load
it puts on the target and report it twice. Before a worker investigates a new failure it claims
the fingerprint: a file created with ``O_EXCL`` in the run's claims folder, which exactly one
process can create. The others treat the failure as known from then on (a journey that meets it
records an occurrence and goes on), and take up the stored failure when the store has it.

A claim of a process that died on this host (its pid is gone) can be taken over: a crash must not
leave a bug uninvestigated. A claim whose failure was reported is marked done, and a done claim is
never taken over: a worker that finished its share and exited has reported its failures, and the
others (which may not have read them from the store yet) must not investigate them again. Claims
belong to one run of workers; a later run starts with none.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from engine.store.ledger import process_alive

__all__ = ["Claims", "RedisClaims"]


class Claims:
    def __init__(self, folder: str | os.PathLike[str], *, worker: str) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.worker = worker
        self.host = socket.gethostname()

    def _path(self, fingerprint: str) -> Path:
        return self.folder / f"{fingerprint}.json"

    def claim(self, fingerprint: str) -> bool:
        """True if this worker may investigate ``fingerprint`` (it claimed it now, or before)."""
        path = self._path(fingerprint)
        mine = json.dumps({"worker": self.worker, "pid": os.getpid(), "host": self.host, "at": time.time()})
        for _ in range(2):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = self.holder(fingerprint)
                if holder is None:
                    continue  # being written this instant, or removed: look again
                if holder.get("pid") == os.getpid() and holder.get("host") == self.host:
                    return True
                if holder.get("done"):
                    return False  # reported: known, whether or not its worker still runs
                if holder.get("host") == self.host and not process_alive(int(holder.get("pid", 0))):
                    path.unlink(missing_ok=True)  # its worker died: take it over
                    continue
                return False
            with os.fdopen(fd, "w") as file:
                file.write(mine)
            return True
        return False

    def done(self, fingerprint: str) -> None:
        """``fingerprint`` was reported: its claim stays this worker's after the worker exits."""
        holder = self.holder(fingerprint)
        if holder is None or holder.get("pid") != os.getpid() or holder.get("host") != self.host:
            return
        path = self._path(fingerprint)
        draft = path.with_suffix(f".{os.getpid()}.tmp")
        draft.write_text(json.dumps({**holder, "done": True, "done_at": time.time()}), encoding="utf-8")
        os.replace(draft, path)  # readers see the old claim or the new one, never half of either

    def holder(self, fingerprint: str) -> dict | None:
        """Who claimed ``fingerprint`` (None: nobody, or the claim is still being written)."""
        try:
            data = json.loads(self._path(fingerprint).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None


class RedisClaims:
    """The same claims across machines (``--shard I/N --redis URL``): ``SET key NX`` in Redis.

    A claim expires after ``ttl_s`` (longer than any investigation), so a shard that crashed while
    it investigated leaves the failure to the others an hour later at most. A done claim (the
    failure was reported) lives ``done_ttl_s``, long after every piece has read it from the store."""

    def __init__(self, url: str, *, group: str, worker: str, ttl_s: int = 3600, done_ttl_s: int = 86400) -> None:
        import redis  # journeys[redis]; checked when the option is read

        self.redis = redis.Redis.from_url(url.partition("#")[0])
        self.prefix = f"journeys:claim:{group}:"
        self.ttl_s = ttl_s
        self.done_ttl_s = done_ttl_s
        self.me = {"worker": worker, "pid": os.getpid(), "host": socket.gethostname()}

    def _mine(self, holder: dict | None) -> bool:
        return holder is not None and all(holder.get(key) == value for key, value in self.me.items())

    def claim(self, fingerprint: str) -> bool:
        if self.redis.set(self.prefix + fingerprint, json.dumps(self.me), nx=True, ex=self.ttl_s):
            return True
        return self._mine(self.holder(fingerprint))

    def done(self, fingerprint: str) -> None:
        if self._mine(self.holder(fingerprint)):
            self.redis.set(self.prefix + fingerprint, json.dumps({**self.me, "done": True}), xx=True,
                           ex=self.done_ttl_s)

    def holder(self, fingerprint: str) -> dict | None:
        raw = self.redis.get(self.prefix + fingerprint)
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None
