"""How framegen stops on Ctrl-C and SIGTERM (exit 130 either way); outside each block the previous handlers
are back, and only the main thread sets them (it is the one that receives signals).

- `with sigterm_as_interrupt():` a SIGTERM raises KeyboardInterrupt, so the same cleanup runs as after
  Ctrl-C (temporary files removed, child processes killed): cli.run_cli holds it around every command.
- `with StopSignals() as signals:` Ctrl-C and SIGTERM only ask a loop to stop (`signals.requested`): train
  finishes its step and checkpoints it first. A second Ctrl-C stops at once (KeyboardInterrupt), for a
  step that takes minutes.
"""

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


class StopSignals:
    """A context in which SIGINT and SIGTERM set `requested` (the first one) instead of stopping the process."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested: str | None = None  # "Ctrl-C" or "SIGTERM" once asked
        self.previous: dict[int, object] = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():  # only the main thread may set handlers
            for number in self.SIGNALS:
                self.previous[number] = signal.signal(number, self.handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)

    def handle(self, number: int, frame) -> None:
        if self.requested is not None and number == signal.SIGINT:
            raise KeyboardInterrupt  # the second Ctrl-C: stop now, without the checkpoint of this step
        self.requested = self.requested or ("Ctrl-C" if number == signal.SIGINT else "SIGTERM")
