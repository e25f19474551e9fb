"""Progress bars on stderr, for the stages that loop over many items.

They show only where a person watches: stderr is a terminal and the "framegen" logger is enabled for INFO
(the command line's `-q` raises it to WARNING; a Python user who silences the logger silences the bars).
In a log file the stages write their own progress lines through `logging` instead.
"""

from __future__ import annotations

import logging
import sys
from typing import Callable

from rich.console import Console
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
BEFORE_BAR: list[Callable[[], None]] = []  # called when a bar is about to show (the console's held lines)


def shown() -> bool:
    """Whether a progress bar would show: a terminal on stderr and INFO messages wanted."""
    return sys.stderr.isatty() and logging.getLogger("framegen").isEnabledFor(logging.INFO)


class RateColumn(ProgressColumn):
    """Items per second, e.g. `412.3 frames/s`."""

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f} {self.unit}/s", style="cyan")


def progress(*extra_columns, unit: str = "it") -> Progress:
    """A rich progress bar on stderr with rate and ETA; disabled unless shown().

    `extra_columns` are rich columns such as TextColumn("{task.fields[loss]}") for live losses.
    """
    before_bar()
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        *extra_columns,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        disable=not shown(),
        transient=False,
    )


def line_progress() -> Progress:
    """A live one-line display on stderr whose whole text the caller renders (`task.fields["line"]`, made to
    fit `stderr.width`); off like progress() (`.disable` tells which)."""
    before_bar()
    return Progress(TextColumn("{task.fields[line]}"), console=stderr, disable=not shown(), transient=False)


def before_bar() -> None:
    if shown():
        for call in BEFORE_BAR:
            call()
