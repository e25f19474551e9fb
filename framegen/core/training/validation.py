"""Training validation: the model being trained scored by core/scoring.py beside `flow`, the cross-fade and,
in a run that started from published or trained weights (`init`), those starting weights.

Every validation scores the model (the EMA generator when EMA is on, wrapped as a `model` engine) on the
held-out windows, both gaps; the large gap's means are what the run reports, what picks the best
checkpoint, and, window by window, what decides `beats_flow` and `beats_init` (scoring.beats: a gain the
spread across windows supports) for the export. The baselines' scores do not change during a run: they are
computed once, at the first validation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from framegen.core.engines import Engine, get_engine
from framegen.core.engines.model import ModelEngine
from framegen.core.files import make_folder
from framegen.core.media.animation import write_animation
from framegen.core.media.images import label_columns
from framegen.core.models.export import PairedGain
from framegen.core.scoring import EngineScores, WindowSet, beats, paired_gain, score_engine, spread

STARTING_WEIGHTS = "the starting weights"  # what the announcements call a fine-tuning run's `init`
SAMPLE_TILE = 128  # longest side of one frame in the sample GIFs, pixels
SAMPLE_FPS = 8.0
SAMPLE_COLUMNS = ["real", "cross-fade", "model"]


def large_gap_means(scores: EngineScores) -> dict[str, float]:
    """{"psnr", "ssim", "ms_ssim"}: the large gap's means over all the held-out windows."""
    return scores.overall.large_gap.metrics()


@dataclass(frozen=True)
class Validation:
    """One validation's large-gap means, {"psnr", "ssim", "ms_ssim"} each, and where they were measured."""

    model: dict[str, float]
    flow: dict[str, float]
    crossfade: dict[str, float]
    flow_gain: PairedGain  # the model's over flow, window by window
    windows: list[dict]  # WindowSet.reference() of each held-out set
    init: dict[str, float] | None = None  # the starting weights' (a run with `init`)
    init_gain: PairedGain | None = None  # the model's over the starting weights

    @property
    def beats_flow(self) -> bool:
        return beats(self.flow_gain)

    @property
    def beats_init(self) -> bool | None:
        return beats(self.init_gain) if self.init_gain is not None else None

    def checkpoint_fields(self) -> dict:
        """The checkpoint's validation entries (plain values)."""
        return {"validation": self.model, "flow_validation": self.flow, "crossfade": self.crossfade,
                "beats_flow": self.beats_flow, "flow_gain": self.flow_gain.model_dump(),
                "validation_windows": self.windows, "init_validation": self.init, "beats_init": self.beats_init,
                "init_gain": self.init_gain.model_dump() if self.init_gain is not None else None}


NO_VALIDATION = {"validation": None, "flow_validation": None, "crossfade": None, "beats_flow": None,
                 "flow_gain": None, "validation_windows": None, "init_validation": None, "beats_init": None,
                 "init_gain": None}


class Validator:
    """Scores a generator on the held-out windows; `flow`, the cross-fade and the starting weights once per run."""

    BASELINES = {"flow": "flow", "blend": "the cross-fade"}  # engine name -> its name in the announcements

    def __init__(self, val_sets: list[WindowSet], device: torch.device, init_generator: torch.nn.Module | None = None):
        self.val_sets = val_sets
        self.device = device  # the model is scored where it trains
        self.init_generator = init_generator  # the weights a fine-tuning run started from, or None
        self.baselines: dict[str, EngineScores] | None = None
        self.baseline_seconds = 0.0  # how long the last validation spent on the baselines (0 once they are known)

    def windows(self) -> int:
        return sum(len(s.indices) for s in self.val_sets)

    def plan(self, model: str) -> str:
        """What the next validation scores, e.g. `the starting weights, flow and the cross-fade on 26 windows`
        (`model`: what the generator is called; the baselines only until they have been scored)."""
        names = [model]
        if self.baselines is None:
            if self.init_generator is not None and model != STARTING_WEIGHTS:
                names.append(STARTING_WEIGHTS)
            names += self.BASELINES.values()
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        windows = self.windows()
        return f"{listed} on {windows} held-out window{'' if windows == 1 else 's'}"

    def validate(self, generator: torch.nn.Module, bars: str | None = None) -> Validation | None:
        """The generator's scores beside flow's and the cross-fade's; None without held-out windows. `bars`: the
        description of the generator's progress bar, e.g. `validate step 0`; with it every engine scored
        shows one (lines in a log file), without it none (between training steps, inside the training line)."""
        if not self.val_sets:
            return None
        started = time.monotonic()
        if self.baselines is None:
            self.baselines = {name: self.score(get_engine(name), bars and f"validate {name}") for name in self.BASELINES}
            if self.init_generator is not None:
                self.baselines["init"] = self.score(ModelEngine(self.init_generator, device=self.device.type),
                                                    bars and "validate the starting weights")
        self.baseline_seconds = time.monotonic() - started
        model = self.score(ModelEngine(generator, device=self.device.type), bars)
        flow, init = self.baselines["flow"], self.baselines.get("init")
        return Validation(
            large_gap_means(model), large_gap_means(flow), large_gap_means(self.baselines["blend"]),
            paired_gain(model.window_psnr, flow.window_psnr), [s.reference() for s in self.val_sets],
            large_gap_means(init) if init is not None else None,
            paired_gain(model.window_psnr, init.window_psnr) if init is not None else None,
        )

    def score(self, engine: Engine, bar: str | None = None) -> EngineScores:
        return score_engine(engine, self.val_sets, bar)

    def write_samples(self, path: Path, generator: torch.nn.Module, count: int) -> None:
        """An animated GIF of the first held-out set: one row per window, columns real | cross-fade | model, each
        labelled in a strip on top."""
        if not self.val_sets or count == 0:
            return
        windows = self.val_sets[0]
        engines = [get_engine("blend"), ModelEngine(generator, device=self.device.type)]
        rows = []
        for index in spread(len(windows.array), count):
            real = windows.window(index)  # uint8 (T, H, W, 3)
            times = [k / (len(real) - 1) for k in range(1, len(real) - 1)]
            made = [np.stack([real[0], *e.interpolate(real[0], real[-1], times), real[-1]]) for e in engines]
            rows.append(np.concatenate([real, *made], axis=2))  # (T, H, 3W, 3)
        sheet = np.concatenate(rows, axis=1)  # (T, rows x H, 3W, 3)
        scale = SAMPLE_TILE / max(real.shape[1:3])
        if scale < 1:
            size = (round(sheet.shape[2] * scale), round(sheet.shape[1] * scale))
            sheet = np.stack([cv2.resize(frame, size, interpolation=cv2.INTER_AREA) for frame in sheet])
        make_folder(path.parent)
        write_animation(path, list(label_columns(sheet, SAMPLE_COLUMNS)), fps=SAMPLE_FPS)
