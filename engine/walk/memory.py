"""What an actor remembers between steps (``step.me``), and what all actors share (``step.shared``).

``Memory`` is a dict that notes which keys each step reads and writes; with the resources a
step consumed and the state it left from, that is what ``engine.walk.shrink`` slices a failing
journey by.
"""

from __future__ import annotations

from typing import Any


class Memory(dict):
    """A dict that notes the keys read and written while a step runs (``step.me``, ``step.shared``).

    Iterating over it, or asking its size, reads every key (``"*"``).
    """

    def __init__(self, prefix: str = "") -> None:
        super().__init__()
        self.prefix = prefix
        self.reads: set[str] | None = None
        self.writes: set[str] | None = None

    def track(self, reads: set[str] | None, writes: set[str] | None) -> None:
        self.reads, self.writes = reads, writes

    def _read(self, key: Any) -> None:
        if self.reads is not None:
            self.reads.add(self.prefix + str(key))

    def _wrote(self, key: Any) -> None:
        if self.writes is not None:
            self.writes.add(self.prefix + str(key))

    def __getitem__(self, key: Any) -> Any:
        self._read(key)
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._read(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self._read(key)
        return super().__contains__(key)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._read(key)
        self._wrote(key)
        return super().setdefault(key, default)

    def pop(self, key: Any, *default: Any) -> Any:
        self._read(key)
        self._wrote(key)
        return super().pop(key, *default)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._wrote(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self._wrote(key)
        super().__delitem__(key)

    def update(self, *args: Any, **kwargs: Any) -> None:
        new = dict(*args, **kwargs)
        for key in new:
            self._wrote(key)
        super().update(new)

    def clear(self) -> None:
        for key in list(super().keys()):
            self._wrote(key)
        super().clear()

    def _read_all(self) -> None:
        self._read("*")

    def __iter__(self):
        self._read_all()
        return super().__iter__()

    def __len__(self) -> int:
        self._read_all()
        return super().__len__()

    def keys(self):
        self._read_all()
        return super().keys()

    def values(self):
        self._read_all()
        return super().values()

    def items(self):
        self._read_all()
        return super().items()
