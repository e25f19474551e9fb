"""Peak memory of a training run, estimated before it starts, and the refusal of a run that cannot fit.

The estimate adds three parts (bytes):
    base         the process itself: Python, torch, OpenCV and framegen imported (BASE_BYTES, measured)
    state        4 bytes per parameter for each copy a run keeps: generator weights, gradients, two Adam
                 moments, its EMA (and the starting weights with --init); discriminator weights, gradients
                 and two moments
    activations  what one training step keeps for its backward pass, measured exactly by running the step
                 on PyTorch's `meta` device (shapes only, no memory, about a second) with a saved-tensor
                 hook, times ACTIVATION_OVERHEAD for the allocator and the transient tensors of backward
The constants are calibrated against the peak RSS of real runs (below; `python bench/bench_train.py
--memory` prints estimate and measurement side by side for more configurations).
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, replace

import torch

from framegen.core.errors import InputError, UsageError, first_line
from framegen.core.resources import available_memory
from framegen.core.training.config import TrainConfig
from framegen.core.training.data import TrainingData
from framegen.core.training.distributed import Distributed
from framegen.core.training.models import TrainingModels
from framegen.core.training.pairs import sample_pairs, step_rng
from framegen.core.training.step import train_step

log = logging.getLogger(__name__)

# Calibration (2026-12-01, peak RSS of `framegen train` on the 2-core VM, bench/peak_rss.py): the trainer with
# torch and OpenCV imported is 540 MB RSS, plus the data and the validation windows; the small model on the
# sample movie (128 px crops, batch 4) peaked at 2.08 GB against an estimate of 2.14 GB, the full model on
# whole 256 px frames at 13 GB against 14.5 GB.
BASE_BYTES = 600 * 2**20  # RSS of `framegen train` before its first step (torch + OpenCV + data)
ACTIVATION_OVERHEAD = 1.2  # peak RSS over base + state + saved activations: allocator, backward's transients
GB = 1e9


@dataclass(frozen=True)
class MemoryEstimate:
    base: int
    state: int
    activations: int
    windows: int  # per step (the batch)
    crop: tuple[int, int]  # (height, width) of the training frames
    multiple: int  # the generator's size multiple (a crop that fits must be one)

    @property
    def total(self) -> int:
        return self.base + self.state + self.activations

    def scaled(self, windows: int, crop: tuple[int, int]) -> "MemoryEstimate":
        """The same run with another batch or crop (activations grow with windows x pixels)."""
        factor = windows * crop[0] * crop[1] / (self.windows * self.crop[0] * self.crop[1])
        return replace(self, activations=round(self.activations * factor), windows=windows, crop=crop)


def estimate_memory(config: TrainConfig, frame_size: tuple[int, int], window_length: int) -> MemoryEstimate | None:
    """The peak memory of one process training `config` on frames of `frame_size` (height, width); None for a
    model whose step reads values, not only shapes (rife3hd's), which the meta device cannot run."""
    saved: dict[int, torch.Tensor] = {}  # every tensor a step saves for backward, kept (meta: no memory) so
    # that no id is reused: a tensor saved twice counts once, the same estimate every time

    def remember(tensor: torch.Tensor) -> torch.Tensor:
        if not isinstance(tensor, torch.nn.Parameter):
            saved[id(tensor)] = tensor
        return tensor

    shapes_only = config.model_copy(update={"init": None, "l2_sp": 0.0, "ema": 0.0})  # no file read, no copy
    with torch.device("meta"):
        models = TrainingModels(shapes_only, torch.device("meta"))
        window = torch.zeros(config.batch_size, window_length, 3, *frame_size)  # (B, T, 3, H, W) in [0, 1]
    pairs = sample_pairs(window, config.times, config.small_gap, step_rng(config.seed, 0))
    try:
        with torch.autograd.graph.saved_tensors_hooks(remember, lambda tensor: tensor):
            train_step(models, pairs, contextlib.nullcontext())
    except (RuntimeError, NotImplementedError) as e:
        if "meta" in str(e):  # "Cannot copy out of meta tensor": the step needs values
            return None
        # a shape the model cannot take (found on meta: no memory, no time)
        raise UsageError(f"{frame_size[1]}x{frame_size[0]} training frames are too small for this model "
                         f"({first_line(e)}): use a larger --crop or smaller model settings") from None
    generator = sum(p.numel() for p in models.generator.parameters())
    discriminator = sum(p.numel() for p in models.discriminator.parameters()) if models.discriminator else 0
    copies = 4 + (config.ema > 0) + (config.init is not None)  # weights, gradients, 2 moments, EMA, start
    activations = sum(t.numel() * t.element_size() for t in saved.values()) + 2 * window.numel() * 4  # + the batch
    return MemoryEstimate(BASE_BYTES, 4 * (copies * generator + 4 * discriminator),
                          round(ACTIVATION_OVERHEAD * activations), config.batch_size, frame_size,
                          models.generator.size_multiple)


def check_memory(estimate: MemoryEstimate, processes: int, available: int | None) -> None:
    """Refuse (exit 3) a run whose `processes` would need more than `available` bytes, with the numbers and
    the --batch-size or --crop that would fit (crops stay multiples of the model's size multiple)."""
    if available is None or processes * estimate.total <= available:
        return
    fits = [f"--batch-size {b}" for b in range(estimate.windows - 1, 0, -1)
            if processes * estimate.scaled(b, estimate.crop).total <= available][:1]
    multiple = estimate.multiple
    side = min(estimate.crop) // 2 // multiple * multiple
    while side >= multiple and not fits:
        if processes * estimate.scaled(estimate.windows, (side, side)).total <= available:
            fits.append(f"--crop {side}")
        side = side // 2 // multiple * multiple
    advice = f"{' or '.join(fits)} fits" if fits else "even one window of the smallest crop does not fit"
    raise InputError(f"training needs about {processes * estimate.total / GB:.1f} GB of memory "
                     f"({describe(estimate)}{f', x {processes} processes' if processes > 1 else ''}), "
                     f"{available / GB:.1f} GB available: {advice}")


def describe(estimate: MemoryEstimate) -> str:
    h, w = estimate.crop
    return (f"weights and optimizer {estimate.state / GB:.1f} GB, activations of {estimate.windows} "
            f"{w}x{h} windows {estimate.activations / GB:.1f} GB")


def check_run_memory(config: TrainConfig, data: TrainingData, dist: Distributed) -> None:
    """The memory phase: the estimated peak on the log; refused (exit 3) when it cannot fit. On the CPU the
    processes of this machine share its memory; a GPU's is its own."""
    estimate = estimate_memory(config, data.frame_size, data.window_length)
    if estimate is None:
        log.info(f"memory: no estimate for {config.arch} (its training step cannot run on shapes alone)")
        return
    if dist.device.type == "cuda":  # the process's own memory (base) is the host's
        estimate, processes, available = replace(estimate, base=0), 1, torch.cuda.mem_get_info(dist.device)[0]
    else:
        processes, available = int(os.environ.get("LOCAL_WORLD_SIZE", dist.world_size)), available_memory()
    check_memory(estimate, processes, available)
    where = "RAM" if dist.device.type == "cpu" else f"{dist.device} memory"
    log.info(f"memory: about {estimate.total / GB:.1f} GB at peak per process ({describe(estimate)}); "
                f"{'?' if available is None else f'{available / GB:.1f}'} GB of {where} available")
