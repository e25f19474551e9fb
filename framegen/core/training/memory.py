"""Peak memory of a training run, estimated before it starts, and the refusal of a run that cannot fit.

The estimate adds three parts (bytes):
    base         the process itself: Python, torch, OpenCV and framegen imported, and what a validation of
                 the held-out windows leaves it holding (BASE_BYTES, measured)
    state        4 bytes per parameter for each copy a run keeps: generator weights, gradients, two Adam
                 moments, its EMA (and the starting weights with --init); discriminator weights, gradients
                 and two moments
    activations  what one training step keeps for its backward pass, measured exactly by running the step
                 on PyTorch's `meta` device (shapes only, no memory) with a saved-tensor hook, times
                 ACTIVATION_OVERHEAD; on small frames, and for a step that needs values (rife3hd's), the
                 step runs for real once on one small window instead (cheaper there, the same bytes), and
                 what it saves is scaled by the batch and the pixels
The constants are calibrated against the peak RSS of real runs (below; `python bench/bench_train_memory.py`
prints estimate and measurement side by side).
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

# Calibration (2026-12-07, bench/bench_train_memory.py: peak RSS of whole `framegen train` runs on a 2-core
# x86_64 CPU, rife4, rife3hd and the small mipal at batch 1-4 and 64-256 px crops; docs/benchmarks.md has the
# table): torch, OpenCV and framegen imported are 540 MB RSS; the step-0 or first validation (the engines on
# the 256 px held-out frames, rife3hd's bisection the largest) leaves the process at 1.0-1.3 GB before the
# steps' activations, which then add about 0.85x what they save for backward. Every row's peak was 0.80-1.01x
# the estimate with these two constants. (The full mipal on 256 px frames peaked at 13 GB, 2026-12-01.)
BASE_BYTES = 1200 * 2**20  # the process with its validation's working set, beside the state and the step
ACTIVATION_OVERHEAD = 1.0  # peak growth per byte a step saves for backward (allocator, backward's transients)
GB = 1e9
# The side of the frames on which a step that needs values (rife3hd's) is run for real, once, for its estimate:
# what it saves for backward grows with the pixels (32, 64, 128 px: 2.1, 8.5, 33.8 MB for one rife3hd window).
VALUE_STEP_SIDE = 32
# Frames of at most this many pixels are measured on one real window rather than traced on `meta`: the
# trace costs the same at any size, a real window of small frames much less. Both ways
# agree within 1.3% (rife4, its cycle objective and a small mipal, 64 px; 2026-12-07; checked by
# test_small_frames_are_measured_on_one_real_window...), a real window of the batch of one the more: what
# does not grow with the batch is counted once per window.
REAL_STEP_PIXELS = 64 * 64


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


def estimate_memory(config: TrainConfig, frame_size: tuple[int, int], window_length: int) -> MemoryEstimate:
    """The peak memory of one process training `config` on frames of `frame_size` (height, width)."""
    shapes_only = config.model_copy(update={"init": None, "l2_sp": 0.0, "ema": 0.0})  # no file read, no copy
    pixels = frame_size[0] * frame_size[1]
    saved = None
    if pixels > REAL_STEP_PIXELS:
        with torch.device("meta"):
            models = TrainingModels(shapes_only, torch.device("meta"))
        saved = saved_bytes(models, config, config.batch_size, frame_size, window_length)
    if saved is None:  # small frames, or a step that reads values (rife3hd's bisection plan): one real window
        with torch.random.fork_rng(devices=[]):  # the run's own random state stays as it was
            models = TrainingModels(shapes_only, torch.device("cpu"))
            if pixels <= REAL_STEP_PIXELS:
                probe = frame_size
            else:
                side = max(VALUE_STEP_SIDE, models.generator.size_multiple)
                probe = (side, side)
            measured = saved_bytes(models, config, 1, probe, window_length)
        saved = round(measured * config.batch_size * pixels / (probe[0] * probe[1]))
    generator = sum(p.numel() for p in models.generator.parameters())
    discriminator = sum(p.numel() for p in models.discriminator.parameters()) if models.discriminator else 0
    copies = 4 + (config.ema > 0) + (config.init is not None)  # weights, gradients, 2 moments, EMA, start
    activations = saved + 2 * config.batch_size * window_length * 3 * pixels * 4  # + the batch itself
    return MemoryEstimate(BASE_BYTES, 4 * (copies * generator + 4 * discriminator),
                          round(ACTIVATION_OVERHEAD * activations), config.batch_size, frame_size,
                          models.generator.size_multiple)


def saved_bytes(models: TrainingModels, config: TrainConfig, batch: int, frame_size: tuple[int, int],
                window_length: int) -> int | None:
    """Bytes of the tensors one training step of `models` saves for its backward pass, on a batch of `batch`
    windows of `frame_size` on the models' device; None when the models are on `meta` and the step needs
    values, not only shapes."""
    saved: dict[int, torch.Tensor] = {}  # every tensor a step saves for backward, kept (meta: no memory) so
    # that no id is reused: a tensor saved twice counts once, the same estimate every time

    def remember(tensor: torch.Tensor) -> torch.Tensor:
        if not isinstance(tensor, torch.nn.Parameter):
            saved[id(tensor)] = tensor
        return tensor

    device = next(models.generator.parameters()).device
    window = torch.zeros(batch, window_length, 3, *frame_size, device=device)  # (B, T, 3, H, W) in [0, 1]
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
    return sum(t.numel() * t.element_size() for t in saved.values())


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
    if dist.device.type == "cuda":  # the process's own memory (base) is the host's
        estimate, processes, available = replace(estimate, base=0), 1, torch.cuda.mem_get_info(dist.device)[0]
    else:
        processes, available = int(os.environ.get("LOCAL_WORLD_SIZE", dist.world_size)), available_memory()
    check_memory(estimate, processes, available)
    where = "RAM" if dist.device.type == "cpu" else f"{dist.device} memory"
    log.info(f"memory: about {estimate.total / GB:.1f} GB at peak per process ({describe(estimate)}); "
                f"{'?' if available is None else f'{available / GB:.1f}'} GB of {where} available")
