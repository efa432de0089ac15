"""Subscriber that writes each new failure as a standalone pytest file."""

from __future__ import annotations

from .events import Event, FailureFound
from .export_pytest import write_reproduction

__all__ = ["ReproductionWriter"]


class ReproductionWriter:
    def __init__(self, directory: str, *, model: str, target: str) -> None:
        self.directory = directory
        self.model = model
        self.target = target
        self.written: dict[str, str] = {}
        self.errors: list[str] = []

    def handle(self, event: Event) -> None:
        if isinstance(event, FailureFound):
            failure = event.failure
            try:
                self.written[failure.id] = write_reproduction(self.directory, failure, model=self.model,
                                                              target=self.target)
            except OSError as error:
                self.errors.append(f"could not write the reproduction of {failure.id}: {error}")
