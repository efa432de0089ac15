"""What the walk asks of Hypothesis beyond its defaults, in one place.

- ``RoundDatabase`` keeps each round's examples under a key of its own (public
  ``ExampleDatabase`` API: a wrapper that prefixes every key), so round N of the
  next run starts from what round N failed on.
- ``seeded`` applies ``hypothesis.seed`` to the function a round runs, with
  ``round_seed`` mixing the run's seed and the round's number (so the rounds of
  ``--seed 1`` are not the rounds of ``--seed 2`` shifted by one). It goes on
  inside the round's ``settings``: ``hypothesis.seed`` turns the example
  database off in the settings it finds.
- ``ignore_engine_constants`` keeps the engine's own string and number literals
  out of what Hypothesis draws. Hypothesis mixes constants from every *local*
  module it sees loaded into generated data (about 5% of draws); an editable
  install makes the engine local, so without this the walk of a seed moved
  whenever an engine module was imported or a literal in it changed, and
  engine strings such as ``tool_version`` reached the target as user data. The
  model's own modules (and ``strategies/``) stay mined: their constants are
  part of what the model says. Hypothesis has no setting for this; the
  function marks the engine's modules as already scanned, which depends on the
  Hypothesis version pinned in ``constraints.txt`` and says so if that changes.
"""

from __future__ import annotations

import hashlib
import os
import sys
from typing import Callable, Iterable, TypeVar

import hypothesis
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

__all__ = ["RoundDatabase", "seeded", "round_seed", "ignore_engine_constants", "ENGINE_PACKAGE"]

ENGINE_PACKAGE = __name__.split(".")[0]
# The tool's own packages: the engine and the demo it ships (whose literals are
# the target's, not the model's). Their files, for modules loaded as ``__main__``.
TOOL_PACKAGES = (ENGINE_PACKAGE, "demo_shop")
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_TOOL_DIRS = tuple(os.path.join(_ROOT, package) + os.sep for package in TOOL_PACKAGES)

F = TypeVar("F", bound=Callable)


def example_database(where: str) -> ExampleDatabase:
    """A folder, or ``redis://HOST:PORT/DB#PREFIX``: Hypothesis's own Redis database, shared by pieces
    of a run on several machines (``--shard --redis``), so a failure one found is tried first by all."""
    if where.startswith(("redis://", "rediss://", "unix://")):
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase

        url, _, prefix = where.partition("#")
        return RedisExampleDatabase(redis.Redis.from_url(url), key_prefix=(prefix or "journeys:examples:").encode())
    return DirectoryBasedExampleDatabase(where)


class RoundDatabase(ExampleDatabase):
    """An example database whose keys carry a prefix (the model and the round)."""

    def __init__(self, inner: ExampleDatabase, prefix: str) -> None:
        super().__init__()
        self.inner = inner
        self.prefix = prefix.encode()

    def _key(self, key: bytes) -> bytes:
        return self.prefix + b":" + key

    def fetch(self, key: bytes) -> Iterable[bytes]:
        return self.inner.fetch(self._key(key))

    def save(self, key: bytes, value: bytes) -> None:
        self.inner.save(self._key(key), value)

    def delete(self, key: bytes, value: bytes) -> None:
        self.inner.delete(self._key(key), value)

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        self.inner.move(self._key(src), self._key(dest), value)

    def __repr__(self) -> str:
        return f"RoundDatabase({self.inner!r}, {self.prefix.decode()!r})"


def round_seed(seed: int, number: int) -> int:
    """The seed of round ``number`` of a run seeded with ``seed``: a 32-bit hash of both."""
    return int.from_bytes(hashlib.blake2b(f"{seed}:{number}".encode(), digest_size=4).digest(), "big")


def seeded(function: F, seed: int) -> F:
    """``function`` with Hypothesis's randomness seeded (``hypothesis.seed``)."""
    return hypothesis.seed(seed)(function)


def ignore_engine_constants() -> bool:
    """Keep the literals of loaded ``engine`` and ``demo_shop`` modules out of generated data.

    Returns False (and changes nothing) when the installed Hypothesis no longer
    works the way this relies on; the caller tells the user seeds may then
    depend on what is imported.
    """
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - a Hypothesis without the module
        return False
    seen = getattr(providers, "_seen_modules", None)
    if not isinstance(seen, set):
        return False
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None) or ""
        # By name, and by file: ``python -m engine.cli.main`` loads the CLI as ``__main__``.
        if name.split(".")[0] in TOOL_PACKAGES or file.startswith(_TOOL_DIRS):
            seen.add(id(module))
    return True
