"""One rate cap for several processes on one machine: pyrate-limiter's token bucket, its state in a file.

``--workers N`` starts N processes that must together stay under ``--rate``. Each keeps the same
``Limiter`` and ``TokenBucket`` as a single run; only where the bucket's few numbers live changes:
``FileStateStore`` keeps them in a small file, read and written under an exclusive ``flock``, so a
check is atomic across processes and a process killed mid-check leaves nothing locked (the kernel
drops its lock). The clock is the machine's monotonic one, which every process shares.
Across machines (``--shard I/N --redis URL``), the same bucket keeps its state in Redis instead:
pyrate-limiter's ``RedisStateStore``, whose check is one Lua script, on the wall clock.

``shared_store`` picks one from the run's setting: ``redis://HOST:PORT/DB#KEY`` (or ``rediss://``)
for Redis, anything else a file's path.
"""

from __future__ import annotations

import fcntl
import json
import os

from pyrate_limiter.abstracts.store import StateStore
from pyrate_limiter.buckets.redis_state import RedisStateStore

from engine.errors import ConfigError

__all__ = ["FileStateStore", "shared_store", "is_redis_url"]

KEY_TTL_MS = 24 * 3600 * 1000  # a cap's state in Redis expires a day after its last request


def is_redis_url(text: str) -> bool:
    return text.startswith(("redis://", "rediss://", "unix://"))


def shared_store(where: str, rate) -> StateStore:
    """The bucket's state for ``rate`` (a window of its own when a schedule changes the rate)."""
    signature = f"{rate.limit}/{rate.interval}"
    if is_redis_url(where):
        try:
            import redis
        except ImportError:
            raise ConfigError("--redis needs the redis client: pip install 'journeys[redis]'") from None
        url, _, key = where.partition("#")
        return RedisStateStore(redis.Redis.from_url(url), f"{key or 'journeys:rate'}:{signature}", ttl_ms=KEY_TTL_MS)
    return FileStateStore(where)


class FileStateStore(StateStore):
    """The bucket's state as JSON in ``path``; every check holds the file's exclusive lock."""

    is_async = False

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._fd: int | None = None

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    @staticmethod
    def _signature(rates) -> str:
        return ";".join(f"{rate.limit}/{rate.interval}" for rate in rates)

    def _load(self, fd: int, algorithm, rates):
        raw = os.pread(fd, 4096, 0)
        try:
            stored = json.loads(raw) if raw.strip() else None
        except ValueError:
            stored = None  # cut short (a write cannot be, but a hand-edited file can): start afresh
        if isinstance(stored, dict) and stored.get("rates") == self._signature(rates):
            return tuple(stored["state"])
        return algorithm.initial(rates)  # no state yet, or another window's rate: a fresh bucket

    def check(self, algorithm, rates, now, weight):
        fd = self._file()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            new_state, decision = algorithm.step(rates, self._load(fd, algorithm, rates), now, weight)
            if decision.allowed:
                data = json.dumps({"rates": self._signature(rates), "state": list(new_state)}).encode()
                os.pwrite(fd, data.ljust(max(len(data), 256)), 0)  # one write of a fixed-size block
            return decision
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def read(self, algorithm, rates):
        fd = self._file()
        fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            return self._load(fd, algorithm, rates)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def reset(self) -> None:
        fd = self._file()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            os.ftruncate(fd, 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __getstate__(self):
        return {"path": self.path, "_fd": None}
