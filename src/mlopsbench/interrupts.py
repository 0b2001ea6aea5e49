"""A clean-up that a second Ctrl-C or SIGTERM must not cut short.

The CLI turns SIGTERM into KeyboardInterrupt, so every clean-up path runs on either signal.
A second signal during that clean-up would abort it half-way, leaving pods, volumes or a
store behind; inside ``signals_deferred`` it is only noted, and raised once the clean-up ends.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading

log = logging.getLogger(__name__)


@contextlib.contextmanager
def signals_deferred(what: str):
    if threading.current_thread() is not threading.main_thread():  # only the main thread gets signals
        yield
        return
    received: list[int] = []

    def note(signum, frame):
        received.append(signum)
        log.warning("%s (%s): finishing that first, then stopping", signal.Signals(signum).name, what)

    previous = {number: signal.signal(number, note) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if received:
        raise KeyboardInterrupt(f"signal {signal.Signals(received[0]).name}")
