"""Stopping a run by signal: the first SIGINT or SIGTERM stops it well, a second at once.

The second signal raises ``KeyboardInterrupt`` where the main thread is. If
that is inside a garbage-collector callback (Hypothesis registers one to time
the collector), Python prints "Exception ignored in: ... gc_callback" with a
traceback and the interrupt is lost: the run went on. The handler then defers
the interrupt by a few milliseconds (``_thread.interrupt_main``), so it lands
in the run's own code.
"""

from __future__ import annotations

import _thread
import gc
import signal
import threading
from contextlib import contextmanager
from typing import Iterator

import click

from engine.walk.explorer import Explorer

__all__ = ["stopping_well"]

DEFER_S = 0.01


@contextmanager
def stopping_well(explorer: Explorer) -> Iterator[None]:
    """The first SIGINT or SIGTERM stops the run well (the step, its journey's clean-ups, the store,
    the summary); a second stops it at once (the store stays readable)."""
    signals = {}

    def handle(number, frame) -> None:
        if explorer.stop_reason is not None:
            if _in_gc_callback(frame):
                threading.Timer(DEFER_S, _thread.interrupt_main).start()
                return
            raise KeyboardInterrupt
        name = signal.Signals(number).name
        click.echo(f"journeys: {name}: finishing the step under way and its journey's clean-ups, then the "
                   f"summary ({name} again to stop at once)", err=True)
        explorer.request_stop(f"stopped by {name}")

    for number in (signal.SIGINT, signal.SIGTERM):
        signals[number] = signal.signal(number, handle)
    try:
        yield
    finally:
        for number, previous in signals.items():
            signal.signal(number, previous)


def _in_gc_callback(frame) -> bool:
    """Is ``frame`` (or a frame it was called from) one of the garbage collector's callbacks?"""
    callbacks = {getattr(callback, "__code__", None) for callback in gc.callbacks}
    while frame is not None:
        if frame.f_code in callbacks:
            return True
        frame = frame.f_back
    return False
