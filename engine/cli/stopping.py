"""Stopping a run by signal: the first SIGINT or SIGTERM stops it well, a second at once.

The second signal raises ``KeyboardInterrupt`` where the main thread is. Python
ignores an exception raised in a garbage-collector callback (Hypothesis keeps
one) or in a ``__del__`` (a finalizer the collector or a dropped reference
runs): it prints "Exception ignored in ..." with a traceback, and the run went
on. So where the handler finds itself in one of those, it raises nothing and
interrupts the main thread again a few milliseconds later
(``_thread.interrupt_main``), out of it. (An interrupt is never repeated once
raised: a second one could land in the store's flush on the way out.)
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

DEFER_S = 0.01  # an interrupt deferred out of a finalizer or a gc callback


@contextmanager
def stopping_well(explorer: Explorer) -> Iterator[None]:
    """The first SIGINT or SIGTERM stops the run well (the step, its journey's clean-ups, the store,
    the summary); a second stops it at once (the store stays readable)."""
    signals = {}
    lock = threading.Lock()
    state = {"inside": True}  # until the run has ended: a deferred interrupt after it would land elsewhere

    def interrupt_again() -> None:
        with lock:
            if state["inside"]:
                _thread.interrupt_main()

    def handle(number, frame) -> None:
        if explorer.stop_reason is not None:
            if _in_finalizer(frame):
                threading.Timer(DEFER_S, interrupt_again).start()
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
        with lock:
            state["inside"] = False
        for number, previous in signals.items():
            signal.signal(number, previous)


def _in_finalizer(frame) -> bool:
    """Is ``frame``, or a frame it was called from, a ``__del__`` or one of the collector's callbacks
    (where an exception raised is printed and dropped)?"""
    callbacks = {getattr(callback, "__code__", None) for callback in gc.callbacks}
    while frame is not None:
        if frame.f_code in callbacks or frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False
