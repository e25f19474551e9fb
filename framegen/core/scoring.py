"""The one scorer: how well an engine recreates the real in-between frames of a dataset's windows.

For every window (frames 0 .. T-1, T = 8 by default) the engine is given
- the large gap: frames 0 and T-1, and asked for 1 .. T-2 at t = k / (T - 1);
- the small gap: frames 0 and 2, and asked for frame 1 at t = 1/2.
Its uint8 frames are compared with the real ones by PSNR, SSIM and MS-SSIM (core/media/metrics.py), per t and
overall (the mean over frames), and its wall time per produced frame is measured. Scores are kept for all
windows together, per dataset and per shot.

`framegen evaluate` calls `score_engine` for each engine it is asked for; training validation calls it
for the model being trained (an engine around the generator) and, once per run, for `flow` and the
cross-fade on the same windows. `beats` is the rule `auto` relies on: a trained model is used only where
its large-gap PSNR gain over `flow` (or over its starting weights), window by window on the held-out
windows, is above twice its standard error and above MIN_GAIN_DB; a smaller gain is a tie, and a tie keeps
the simpler engine.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict

from framegen.core.engines import Engine
from framegen.core.errors import InputError
from framegen.core.formats.dataset import DatasetManifest, open_split
from framegen.core.media.convert import images_to_tensor
from framegen.core.media.metrics import all_metrics
from framegen.core.models.export import PairedGain
from framegen.core.progress import progress

METRICS = ("psnr", "ssim", "ms_ssim")
SMALL_GAP_T = 0.5
MIN_GAIN_DB = 0.1  # the smallest PSNR gain worth switching engines for: below it the frames look the same
ALL = ("all",)  # the group key of every window together


class Scores(BaseModel):
    """Means over the frames of a group (windows x times); per time for the large gap."""

    model_config = ConfigDict(extra="forbid")

    frames: int
    psnr: float
    ssim: float
    ms_ssim: float
    seconds_per_frame: float  # engine wall time per produced frame
    per_t: dict[str, dict[str, float]] = {}  # "1/7" -> {"psnr": .., "ssim": .., "ms_ssim": ..}

    def metrics(self) -> dict[str, float]:
        """{"psnr", "ssim", "ms_ssim"}: the overall means."""
        return {metric: getattr(self, metric) for metric in METRICS}


class GapScores(BaseModel):
    model_config = ConfigDict(extra="forbid")

    large_gap: Scores
    small_gap: Scores


@dataclass(frozen=True)
class Gap:
    """Which frames an engine is given (first, last) and which it must make (targets, at times)."""

    first: int
    last: int
    targets: list[int]
    times: list[float]


def window_gaps(length: int) -> dict[str, Gap]:
    """The large gap (0, T-1 -> 1..T-2) and the small gap (0, 2 -> 1) of windows of `length` frames."""
    inner = list(range(1, length - 1))
    return {"large_gap": Gap(0, length - 1, inner, [k / (length - 1) for k in inner]),
            "small_gap": Gap(0, 2, [1], [SMALL_GAP_T])}


def spread(count: int, limit: int | None) -> list[int]:
    """`limit` indices spread evenly over range(count) (all of them without a limit), ascending."""
    if limit is None or limit >= count:
        return list(range(count))
    return sorted({round(i * (count - 1) / max(1, limit - 1)) for i in range(limit)})


@dataclass(frozen=True)
class WindowSet:
    """The windows of one dataset split that are scored, by index."""

    folder: Path
    split: str
    manifest: DatasetManifest
    array: np.ndarray  # memory-mapped uint8 (N, T, H, W, 3)
    indices: list[int]

    def window(self, index: int) -> np.ndarray:
        return np.asarray(self.array[index])  # uint8 (T, H, W, 3)

    def shot(self, index: int) -> str:
        return self.manifest.splits[self.split].windows[index].shot

    def reference(self) -> dict:
        """Which windows these are, as plain values (for checkpoints and model.json)."""
        return {"dataset": str(self.folder), "split": self.split, "indices": list(self.indices)}


def open_windows(folder: Path, split: str, limit: int | None) -> WindowSet:
    """The windows of `split` of the dataset in `folder`, at most `limit` of them evenly spread."""
    manifest, array = open_split(Path(folder), split)
    return WindowSet(Path(folder), split, manifest, array, spread(len(array), limit))


def common_window_length(window_sets: list[WindowSet]) -> int:
    """The window length all the sets share; InputError when they differ or leave nothing in between."""
    lengths = {s.manifest.window_length for s in window_sets}
    if len(lengths) > 1:
        raise InputError(f"the datasets have different window lengths ({sorted(lengths)}); evaluate them apart")
    length = lengths.pop()
    if length < 3:
        raise InputError(f"windows of {length} frames have no frame in between to evaluate")
    return length


class Accumulator:
    """Rows (t, psnr, ssim, ms_ssim, seconds) of the frames of one group and gap."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, float, float, float, float]] = []

    def add(self, metrics: dict[str, torch.Tensor], times: list[float], seconds: float) -> None:
        for i, t in enumerate(times):
            self.rows.append((t, *(float(metrics[m][i]) for m in METRICS), seconds / len(times)))

    def scores(self) -> Scores:
        rows = np.array(self.rows)  # (frames, 5)
        means = rows.mean(axis=0)
        per_t = {
            str(Fraction(t).limit_denominator(64)): dict(zip(METRICS, rows[rows[:, 0] == t, 1:4].mean(axis=0).tolist()))
            for t in sorted(set(rows[:, 0].tolist()))
        }
        return Scores(frames=len(rows), **dict(zip(METRICS, means[1:4].tolist())), seconds_per_frame=means[4],
                      per_t=per_t if len(per_t) > 1 else {})


@dataclass
class EngineScores:
    """One engine's scores: by group ("all",), (dataset folder,), (dataset folder, shot)."""

    groups: dict[tuple[str, ...], GapScores]
    sample: np.ndarray  # the first window's large gap: uint8 (T, H, W, 3), the real end frames around
    window_psnr: list[float]  # each window's large-gap mean PSNR, in the order scored (for paired_gain)

    @property
    def overall(self) -> GapScores:
        return self.groups[ALL]


def score_engine(engine: Engine, window_sets: list[WindowSet], description: str | None = None) -> EngineScores:
    """Score `engine` on every window of `window_sets` (both gaps); a progress bar (or its lines in a log file)
    described so when `description` is given."""
    gaps = window_gaps(common_window_length(window_sets))
    accumulators: dict[tuple[str, ...], dict[str, Accumulator]] = {}
    sample = None
    window_psnr = []
    # no bar without a description: a validation between training steps runs inside the training loop's line
    with progress(unit="windows") if description else contextlib.nullcontext() as bar:
        task = bar.add_task(description, total=sum(len(s.indices) for s in window_sets)) if bar else None
        for windows in window_sets:
            for index in windows.indices:
                window = windows.window(index)  # uint8 (T, H, W, 3)
                keys = (ALL, (str(windows.folder),), (str(windows.folder), windows.shot(index)))
                for name, gap in gaps.items():
                    start = time.perf_counter()
                    frames = engine.interpolate(window[gap.first], window[gap.last], gap.times)
                    seconds = time.perf_counter() - start
                    metrics = all_metrics(images_to_tensor(np.stack(frames)), images_to_tensor(window[gap.targets]))
                    if name == "large_gap":
                        window_psnr.append(float(metrics["psnr"].mean()))
                        if sample is None:
                            sample = np.stack([window[gap.first], *frames, window[gap.last]])
                    for key in keys:
                        accumulators.setdefault(key, {g: Accumulator() for g in gaps})[name].add(metrics, gap.times,
                                                                                                seconds)
                if bar is not None:
                    bar.advance(task)
    groups = {key: GapScores(**{name: accumulator.scores() for name, accumulator in by_gap.items()})
              for key, by_gap in accumulators.items()}
    return EngineScores(groups, sample, window_psnr)


def paired_gain(model: list[float], baseline: list[float]) -> PairedGain:
    """The model's mean PSNR gain over the baseline, paired window by window (the same windows, in the same
    order), and its margin: twice the standard error of the per-window differences, and at least MIN_GAIN_DB
    (a few steps that barely move the weights change every window by the same hair, with no spread at all)."""
    differences = np.asarray(model, np.float64) - np.asarray(baseline, np.float64)
    count = len(differences)
    spread = 2 * float(differences.std(ddof=1)) / np.sqrt(count) if count >= 2 else None
    margin = max(spread, MIN_GAIN_DB) if spread is not None else None
    return PairedGain(gain=float(differences.mean()) if count else 0.0, margin=margin, windows=count)


def beats(gain: PairedGain) -> bool:
    """The rule `auto` trusts: a gain above its margin. Inside the margin the windows cannot tell the two apart,
    or the difference is too small to see (a tie); with one window there is no spread to measure, so no gain
    is trusted."""
    return gain.margin is not None and gain.gain > gain.margin
