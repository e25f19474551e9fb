"""Where framegen talks: results on stdout, logs and progress bars on stderr.

Progress bars are off with `-q` and whenever stderr is not a terminal (CI, pipes, log files).
"""

from __future__ import annotations

import os
import sys
import warnings

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

stderr = Console(stderr=True, highlight=False)
_verbosity = 0  # -1 quiet, 0 normal, 1 verbose


def set_verbosity(level: int) -> None:
    global _verbosity
    _verbosity = level


def route_library_messages() -> None:
    """Keep stderr to framegen's own lines: Python warnings (numpy's RuntimeWarning, ...) become -v debug
    lines, and OpenCV's `[ WARN ]` log is silenced unless -v (framegen checks what OpenCV returns and
    reports failures itself). Called once at start-up, after the verbosity is set."""
    warnings.showwarning = _warning_as_debug_line
    os.environ["OPENCV_LOG_LEVEL"] = "WARNING" if _verbosity >= 1 else "SILENT"  # an OpenCV imported later
    if "cv2" in sys.modules:  # already imported (a test, or a second command in one process)
        from cv2.utils import logging as opencv_logging

        opencv_logging.setLogLevel(opencv_logging.LOG_LEVEL_WARNING if _verbosity >= 1 else
                                   opencv_logging.LOG_LEVEL_SILENT)


def _warning_as_debug_line(message, category, filename, lineno, file=None, line=None) -> None:
    debug(escape(f"{category.__name__}: {message} ({os.path.basename(filename)}:{lineno})"))


def log(message: str) -> None:
    """A progress message for the user (stderr), one line however long; silent with -q."""
    if _verbosity >= 0:
        stderr.print(message, soft_wrap=True)


def debug(message: str) -> None:
    """Detail only shown with -v."""
    if _verbosity >= 1:
        stderr.print(f"[dim]{message}[/dim]", soft_wrap=True)


def result(message: str) -> None:
    """What the command produced (stdout): where it wrote, the numbers it measured."""
    print(message, flush=True)


class RateColumn(ProgressColumn):
    """Items per second, e.g. `412.3 frames/s`."""

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f} {self.unit}/s", style="cyan")


def progress(*extra_columns, unit: str = "it") -> Progress:
    """A rich progress bar on stderr with rate and ETA; disabled when quiet or not a TTY.

    `extra_columns` are rich columns such as TextColumn("{task.fields[loss]}") for live losses.
    """
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        *extra_columns,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        disable=_verbosity < 0 or not sys.stderr.isatty(),
        transient=False,
    )


# ---------------------------------------------------------------------------------------------- training


def line_progress() -> Progress:
    """A live one-line display on stderr whose whole text the caller renders (`task.fields["line"]`, made to
    fit `stderr.width`); off like progress(): when quiet or not a TTY (`.disable` tells which)."""
    return Progress(
        TextColumn("{task.fields[line]}"),
        console=stderr,
        disable=_verbosity < 0 or not sys.stderr.isatty(),
        transient=False,
    )
