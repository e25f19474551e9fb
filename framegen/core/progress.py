"""Progress bars on stderr, for the stages that loop over many items.

They show only where a person watches: stderr is a terminal and the "framegen" logger is enabled for INFO
(the command line's `-q` raises it to WARNING; a Python user who silences the logger silences the bars).
Where they do not show (stderr is a log file), each task logs its line through `logging` instead, at most
every LOG_EVERY_SECONDS (`extract: 120/400 frames, 3.1 frames/s, about 1:30 left`), and, once it has
logged one, a last line when the bar stops: a run under a minute adds nothing to its log.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

log = logging.getLogger(__name__)

stderr = Console(stderr=True, highlight=False)
LOG_EVERY_SECONDS = 60.0  # progress lines in a log file (stderr not a terminal), at most this often
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


def clock(seconds: float) -> str:
    """`2:03`, or `1:02:03` from an hour on."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def rough_duration(seconds: float) -> str:
    """`40 s`, `6 min`, `2.5 h`: a time to come, as precise as an estimate is."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


class LoggedProgress(Progress):
    """A rich Progress that, where it does not show, logs `line(task)` of each task that moves, at most every
    LOG_EVERY_SECONDS, and a last line for each task that logged one when its `with` block ends."""

    def __init__(self, *columns, line: Callable[[Task], str], **options):
        super().__init__(*columns, console=stderr, disable=not shown(), transient=False, **options)
        self.line = line
        self.logged: dict[TaskID, tuple[float, str]] = {}  # the tasks that logged a line: when, and which
        self.started_at = time.monotonic()

    def update(self, task_id: TaskID, **changes) -> None:
        super().update(task_id, **changes)
        self.log_when_due(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self.log_when_due(task_id)

    def log_when_due(self, task_id: TaskID) -> None:
        if not self.disable:
            return
        now = time.monotonic()
        if now - self.logged.get(task_id, (self.started_at, ""))[0] >= LOG_EVERY_SECONDS:
            self.log_line(task_id, now)

    def log_line(self, task_id: TaskID, now: float) -> None:
        line = self.line(self.task(task_id))
        if line != self.logged.get(task_id, (0.0, ""))[1]:
            log.info(line)
        self.logged[task_id] = (now, line)

    def task(self, task_id: TaskID) -> Task:
        return next(task for task in self.tasks if task.id == task_id)

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        super().__exit__(exc_type, exc_value, traceback)
        if exc_type is None:  # a stage that fails ends on its one error line
            for task_id in list(self.logged):
                self.log_line(task_id, time.monotonic())
        self.logged.clear()


def count_line(task: Task, unit: str) -> str:
    """`extract: 120/400 frames, 3.1 frames/s, about 1:30 left`; when done, `extract: 400/400 frames in 2:10`."""
    unit = task.fields.get("unit", unit)
    done = f"{task.completed:g}/{task.total:g}" if task.total is not None else f"{task.completed:g}"
    text = f"{task.description}: {done} {unit}"
    if task.finished:
        return f"{text} in {clock(task.finished_time or task.elapsed or 0)}"
    if task.speed:
        text += f", {task.speed:.1f} {unit}/s"
    if task.time_remaining is not None:
        text += f", about {clock(task.time_remaining)} left"
    return text


def progress(*extra_columns, unit: str = "it") -> Progress:
    """A rich progress bar on stderr with rate and ETA where shown(), else lines in the log (LoggedProgress).

    `extra_columns` are rich columns such as TextColumn("{task.fields[loss]}") for live losses; a task's
    own `unit` field names its items in the log lines (the bar's rate column uses `unit`).
    """
    before_bar()
    return LoggedProgress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(unit),
        *extra_columns,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        line=lambda task: count_line(task, unit),
    )


def line_progress() -> Progress:
    """A live one-line display on stderr whose whole text the caller renders (`task.fields["line"]`, made to
    fit `stderr.width`); where it does not show (`.disable`), that line in the log as progress() logs."""
    before_bar()
    return LoggedProgress(TextColumn("{task.fields[line]}"), line=lambda task: task.fields["line"])


def before_bar() -> None:
    if shown():
        for call in BEFORE_BAR:
            call()
