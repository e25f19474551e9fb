"""The run's one log: metrics.csv, TensorBoard (when installed), console lines and where the sample GIFs
go, written by rank 0; the running means of the training losses and the training speed, on every process.

metrics.csv has one row per validation: epoch, step, the model's PSNR/SSIM/MS-SSIM on the held-out
windows (large gap), flow's (flow_*) and the cross-fade's (crossfade_*) beside them, beats_flow, in a run
with `init` the starting weights' (init_*) and beats_init, the mean training losses since the previous row
(loss_*) and windows/s.

The progress display (`TrainingProgress`) is one line that fits the terminal (80 columns too): epoch and step
of the total, elapsed and remaining time, the generator's and discriminator's losses; in a log file
(stderr not a terminal) the same line, whole, once a minute; with -v every loss term every few steps.
"""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path
from typing import Any

import torch

from framegen.core.files import open_no_link, refuse_link
from framegen.core.progress import clock, line_progress, stderr as progress_console
from framegen.core.training.validation import Validation

log = logging.getLogger(__name__)

DISPLAY_EVERY = 10  # steps between reading the losses for display (reading a loss waits for the GPU)


class RunLog:
    def __init__(self, run: Path, is_main: bool):
        self.run, self.is_main = Path(run), is_main
        self.tensorboard = tensorboard_writer(self.run) if is_main else None
        self.losses: dict[str, torch.Tensor] = {}  # sums since the last validation
        self.loss_steps = 0
        self.train_seconds, self.train_windows = 0.0, 0  # this session's, validation and checkpoints excluded

    def add_step(self, terms: dict[str, torch.Tensor], windows: int, seconds: float) -> None:
        for name, value in terms.items():
            self.losses[name] = self.losses.get(name, 0) + value
        self.loss_steps += 1
        self.train_windows += windows
        self.train_seconds += seconds

    def windows_per_second(self) -> float:
        return self.train_windows / max(self.train_seconds, 1e-9)

    def mean_losses(self) -> dict[str, float]:
        return {name: float(value) / max(self.loss_steps, 1) for name, value in self.losses.items()}

    def status_text(self) -> str:
        """Mean losses since the last validation and the training speed (every term: -v and checkpoint lines)."""
        losses = " ".join(f"{name} {value:.4g}" for name, value in self.mean_losses().items())
        return f"{losses} | {self.windows_per_second():.2f} windows/s"

    def write_validation(self, step: int, epoch: float, validation: Validation | None) -> None:
        """Rank 0: one metrics.csv row (and TensorBoard scalars, console lines); every rank: losses reset."""
        if self.is_main:
            row: dict[str, Any] = {"epoch": round(epoch, 3), "step": step}
            if validation is not None:
                row |= validation_columns(validation)
                log.info(f"step {step} validation: {metrics_text(validation.model)}")
                log.info(f"{' ' * len(str(step))}        flow: {metrics_text(validation.flow)}")
                log.info(f"{' ' * len(str(step))}  cross-fade: {metrics_text(validation.crossfade)}")
                if validation.init is not None:
                    log.info(f"{' ' * len(str(step))}       start: {metrics_text(validation.init)}")
            row |= {f"loss_{k}": round(v, 6) for k, v in self.mean_losses().items()}
            row["windows_per_s"] = round(self.windows_per_second(), 3)
            append_metrics(self.run / "metrics.csv", row)
            if self.tensorboard is not None:
                for name, value in row.items():
                    self.tensorboard.add_scalar(name, value, step)
                self.tensorboard.flush()
        self.losses, self.loss_steps = {}, 0

    def sample_path(self, step: int) -> Path:
        """Where the sample GIF of the validation at `step` goes (validation.Validator.write_samples)."""
        return self.run / "samples" / f"step-{step:08d}.gif"

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def tensorboard_writer(run: Path):
    """A TensorBoard writer into RUN/tensorboard/ when the tensorboard package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run / "tensorboard"))


def validation_columns(validation: Validation) -> dict[str, Any]:
    """metrics.csv's columns of one validation: the model's, the baselines' (prefixed), the verdicts."""
    named = [("", validation.model), ("flow_", validation.flow), ("crossfade_", validation.crossfade)]
    if validation.init is not None:
        named.append(("init_", validation.init))
    row: dict[str, Any] = {f"{prefix}{k}": round(v, 4) for prefix, metrics in named for k, v in metrics.items()}
    row["beats_flow"] = int(validation.beats_flow)
    if validation.beats_init is not None:
        row["beats_init"] = int(validation.beats_init)
    return row


def metrics_text(metrics: dict[str, float]) -> str:
    return f"PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.4f}, MS-SSIM {metrics['ms_ssim']:.4f}"


def append_metrics(path: Path, row: dict[str, Any]) -> None:
    """Append one row to metrics.csv. A row with columns the header lacks (the losses, absent from a run's
    step-0 validation) rewrites the file with the union of the columns; a missing value is left empty."""
    rows: list[dict[str, Any]] = []  # the rows written so far, when the file is rewritten
    columns, rewrite = list(row), True
    refuse_link(path)  # a link planted in a run folder received from someone else
    if path.exists():
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            rewrite = not set(columns) <= set(header)
            rows = list(reader) if rewrite else []
            columns = header + [c for c in columns if c not in header]
    with open_no_link(path, "w" if rewrite else "a") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        if rewrite:
            writer.writeheader()
            writer.writerows(rows)
        writer.writerow(row)


def progress_line(epoch: int, epochs: int, step: int, total: int, elapsed: float, remaining: float | None,
                  losses: dict[str, float], width: int = 80) -> str:
    """`epoch 2/10  step 45/330  3:12 elapsed  20:01 left  g 0.4123  d 0.6931`: the two main losses ("g", "d",
    else the first two) as far as they fit in `width` columns; the counts and times always."""
    left = "?" if remaining is None else clock(remaining)
    line = f"epoch {epoch}/{epochs}  step {step}/{total}  {clock(elapsed)} elapsed  {left} left"
    shown = [name for name in ("g", "d") if name in losses] or list(losses)[:2]
    for name in shown:
        more = f"  {name} {losses[name]:.4g}"
        if len(line) + len(more) > width:
            break
        line += more
    return line[:width]


class TrainingProgress:
    """The live progress line on a terminal, the same line once a minute in a log file, the -v breakdown,
    and after this session's first step one line with the time a step, an epoch and the run will take
    (`max_minutes`, when given, caps the time left)."""

    def __init__(self, log: RunLog, steps_per_epoch: int, first_step: int, max_minutes: float | None = None):
        self.log, self.steps_per_epoch, self.first_step = log, steps_per_epoch, first_step
        self.max_seconds = None if max_minutes is None else max_minutes * 60
        self.display = line_progress()
        self.started = time.monotonic()
        self.losses: dict[str, float] = {}

    def __enter__(self) -> "TrainingProgress":
        self.display.__enter__()
        self.task = self.display.add_task("train", line="")
        return self

    def __exit__(self, *exc) -> None:
        self.display.__exit__(*exc)

    def update(self, step: int, epoch: int, total: int) -> None:
        """After `step` (of `total`); `epoch`: epochs completed."""
        now, done = time.monotonic(), step - self.first_step
        per_step = (now - self.started) / max(done, 1)
        if done == 1:
            to_go = per_step * (total - self.first_step)
            capped = self.max_seconds is not None and to_go > self.max_seconds
            steps = f"the {total - self.first_step} steps to go"
            run = f"--max-minutes stops it after {clock(self.max_seconds)}, before {steps}" if capped else \
                f"{clock(to_go)} for {steps}"
            log.info(f"first step {per_step:.1f} s: about {clock(per_step * self.steps_per_epoch)} an epoch "
                        f"({self.steps_per_epoch} steps), {run}")
        if step % DISPLAY_EVERY == 0 or done == 1:
            self.losses = self.log.mean_losses()
            log.debug(f"step {step}: {self.log.status_text()}")
        epochs = -(-total // self.steps_per_epoch)
        left = per_step * (total - step) if done else None
        if left is not None and self.max_seconds is not None:
            left = max(0.0, min(left, self.max_seconds - (now - self.started)))
        line = progress_line(min(epoch + 1, epochs), epochs, step, total, now - self.started, left, self.losses,
                             progress_console.width)
        self.display.update(self.task, line=line)  # in a log file, the same line (progress.LOG_EVERY_SECONDS)
