"""Where the command line talks: results on stdout, the library's log on stderr through rich.

The library (framegen.core) reports through the standard `logging` logger "framegen" and never prints;
`setup()` is what the command line adds: the verbosity, one handler that writes each record as one line
on stderr (warnings in yellow, -v detail dimmed), and the routing of other libraries' messages.

A record logged with `extra={"hold": True}` (the `auto` engine's choice, made before the stage has read its
inputs) waits for the command's next output: another line, a progress bar, a result, or the command's
end. When the command fails first, it is dropped, so an error stays the one line on stderr.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

from rich.console import Console
from rich.markup import escape

from framegen.core import progress

stderr = Console(stderr=True, highlight=False)
LEVELS = {-1: logging.ERROR, 0: logging.INFO, 1: logging.DEBUG}  # -q (errors only), normal, -v


class LineHandler(logging.Handler):
    """One record, one line on stderr however long (never wrapped: log files stay greppable); records marked
    `hold` wait for the next output (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = escape(record.getMessage())
        if record.levelno >= logging.WARNING:
            message = f"[yellow]warning:[/yellow] {message}"
        elif record.levelno <= logging.DEBUG:
            message = f"[dim]{message}[/dim]"
        if getattr(record, "hold", False):
            self.held.append(message)
            return
        self.print_held()
        stderr.print(message, soft_wrap=True)

    def print_held(self) -> None:
        for message in self.held:
            stderr.print(message, soft_wrap=True)
        self.held.clear()


def handler() -> LineHandler | None:
    return next((h for h in logging.getLogger("framegen").handlers if isinstance(h, LineHandler)), None)


def release_held() -> None:
    """Print the held lines: the command goes on."""
    if handler() is not None:
        handler().print_held()


def drop_held() -> None:
    """Forget the held lines: the command failed, and its error is the one line."""
    if handler() is not None:
        handler().held.clear()


def setup(verbosity: int) -> None:
    """Install the handler on the "framegen" logger at `verbosity` (-1 quiet, 0 normal, 1 verbose), and keep
    stderr to framegen's own lines: Python warnings (numpy's RuntimeWarning, ...) become -v debug lines, and
    OpenCV's `[ WARN ]` log is silenced unless -v (framegen checks what OpenCV returns and reports failures
    itself)."""
    logger = logging.getLogger("framegen")
    logger.setLevel(LEVELS[verbosity])
    logger.propagate = False
    logger.handlers = [LineHandler()]
    if release_held not in progress.BEFORE_BAR:
        progress.BEFORE_BAR.append(release_held)
    warnings.showwarning = _warning_as_debug_line
    os.environ["OPENCV_LOG_LEVEL"] = "WARNING" if verbosity >= 1 else "SILENT"  # an OpenCV imported later
    if "cv2" in sys.modules:  # already imported (a test, or a second command in one process)
        from cv2.utils import logging as opencv_logging

        opencv_logging.setLogLevel(opencv_logging.LOG_LEVEL_WARNING if verbosity >= 1 else
                                   opencv_logging.LOG_LEVEL_SILENT)


def _warning_as_debug_line(message, category, filename, lineno, file=None, line=None) -> None:
    logging.getLogger("framegen").debug(f"{category.__name__}: {message} ({os.path.basename(filename)}:{lineno})")


def count(number: int, noun: str) -> str:
    """`1 frame`, `2 frames`, `0 frames`: a number and its noun, singular for one."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def result(message: str) -> None:
    """What the command produced (stdout): where it wrote, the numbers it measured."""
    release_held()
    print(message, flush=True)
