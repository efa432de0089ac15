"""Subscriber that writes each new failure as a standalone pytest file.

Only a failure whose exported form the engine walked and saw fail at the marked step
(``Failure.reproducible``) gets a file: anything else is not a reproduction, and
``skipped`` says why it got none.
"""

from __future__ import annotations

from engine.events import Event, FailureFound
from engine.export.pytest_file import no_file, write_reproduction

__all__ = ["ReproductionWriter"]


class ReproductionWriter:
    def __init__(self, directory: str, *, model: str, target: str) -> None:
        self.directory = directory
        self.model = model
        self.target = target
        self.written: dict[str, str] = {}
        self.errors: list[str] = []
        self.skipped: dict[str, str] = {}  # failure id -> why no file was written

    def handle(self, event: Event) -> None:
        if isinstance(event, FailureFound):
            failure = event.failure
            if not failure.reproducible:
                self.skipped[failure.id] = no_file(failure)
                return
            try:
                self.written[failure.id] = write_reproduction(self.directory, failure, model=self.model,
                                                              target=self.target)
            except OSError as error:
                self.errors.append(f"could not write the reproduction of {failure.id}: {error}")
