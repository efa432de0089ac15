"""The error tree of journeys.

Every error the tool reports on purpose derives from ``JourneysError``; the CLI
turns each into one clear line and an exit code instead of a traceback::

    JourneysError
    ├── ModelError          the model file cannot be loaded or is not valid (exit 2)
    ├── ConfigError         a flag or setting cannot be used as given (exit 2)
    ├── TargetError         the target cannot be reached or refused us (exit 2 at start)
    └── SubscriberError     a subscriber (the store writer, a report) failed: the run stops (exit 2)
"""

from __future__ import annotations

__all__ = ["JourneysError", "ModelError", "ConfigError", "TargetError", "SubscriberError"]


class JourneysError(Exception):
    """Base of every error journeys reports on purpose."""

    exit_code = 2


class ModelError(JourneysError):
    """The journey model cannot be loaded, or it describes an impossible graph."""

    def __init__(self, message: str, problems: list | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class ConfigError(JourneysError):
    """A flag, option or setting cannot be used as given."""


class TargetError(JourneysError):
    """The target cannot be reached, or answers in a way the run cannot start with."""


class SubscriberError(JourneysError):
    """A subscriber to the engine's events raised: what it keeps can no longer be trusted."""
