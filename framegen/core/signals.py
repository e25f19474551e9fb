"""SIGTERM handled as Ctrl-C: `with sigterm_as_interrupt():` makes a SIGTERM raise KeyboardInterrupt in the
main thread, so the same cleanup runs (temporary files removed, child processes killed) and the command
exits 130 with "Stopped.", as after Ctrl-C. Outside the block the previous handler is back."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


def _interrupt(number: int, frame) -> None:
    raise KeyboardInterrupt


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (and receives signals)
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
