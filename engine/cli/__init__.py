"""The ``journeys`` command: flags and project settings in, a run's subscribers wired up, exit codes out."""

from engine.cli.main import main

__all__ = ["main"]
