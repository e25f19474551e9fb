"""`framegen train`: one training loop for one process, one GPU or `torchrun` on many.

`train()` reads top to bottom in phases (nanoGPT's train.py):
    setup        -> the distributed group from torchrun's env vars, device, precision, seeds
    data         -> the datasets' train splits (mixed by weight), their validation splits
    models       -> generator, its loss, discriminator (when the GAN part is on), EMA, optimizers, DDP
    resume       -> every state from RUN/checkpoints/last.pt
    loop         -> GAN steps in pix2pix order; checkpoints; validation + samples at each epoch's end
                    (and every `validate_every` steps)
    finish       -> final validation, export (RUN/export/), run manifest (RUN/manifest.json, last)

A run folder:
    checkpoints/   step-*.pt (newest `keep`), last.pt, best.pt (framegen.core.checkpoint)
    metrics.csv    one row per validation: PSNR/SSIM/MS-SSIM of the in-betweens, the cross-fade's
                   beside them, mean training losses, windows/s
    samples/       step-NNNNNNNN.gif at each validation: windows as rows, columns real | cross-fade | model
    export/        model.safetensors + model.json (what `interpolate --checkpoint` loads)
    manifest.json  framegen/run, with references to the datasets' manifests

Resume is exact (with the same number of processes and batch size): the order of windows and each
window's augmentation are pure functions of (seed, epoch, position), and every state that changes during
training is in the checkpoint.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from rich.progress import TextColumn
from torch.nn.parallel import DistributedDataParallel

from framegen.core import console
from framegen.core.animation import write_animation
from framegen.core.checkpoint import (
    CheckpointSaver,
    ExportMetadata,
    export_model,
    load_checkpoint,
    restore_rng,
    rng_state,
)
from framegen.core.dataset import WindowDataset, to_float
from framegen.core.distributed import Distributed, barrier, init_distributed, largest, shutdown
from framegen.core.errors import InputError, UsageError
from framegen.core.losses import AdversarialLoss, GanConfig, build_loss, resolve_loss_config
from framegen.core.manifest import (
    Manifest,
    UpstreamRef,
    manifest_path,
    upstream_ref,
    write_manifest,
)
from framegen.core.metrics import all_metrics
from framegen.core.models.registry import (
    build_discriminator,
    build_generator,
    get_arch,
    interpolate_padded,
    resolve_discriminator_config,
    resolve_generator_config,
)
from framegen.core.workspace import stage_output

DISPLAY_EVERY = 10  # steps between progress-bar loss updates (reading a loss waits for the GPU)
SAMPLE_TILE = 128  # longest side of one frame in the sample GIFs, pixels
SAMPLE_FPS = 8.0


class TrainConfig(BaseModel):
    """Everything that defines a run; saved in every checkpoint and in the run manifest."""

    model_config = ConfigDict(extra="forbid")

    datasets: list[str] = Field(default_factory=list)  # dataset folders (absolute paths)
    mix: list[float] | None = None  # sampling weight of each dataset; None: every window equally likely
    validate_synthetic: bool = False  # also validate on synthetic datasets (default: movie datasets only)
    arch: str = "mipal"
    model: dict[str, Any] = Field(default_factory=dict)  # the arch's generator config
    loss: dict[str, Any] = Field(default_factory=dict)  # the arch's loss weights
    gan: GanConfig = Field(default_factory=GanConfig)
    epochs: int = Field(10, ge=1)
    max_steps: int | None = Field(None, ge=1)
    max_minutes: float | None = Field(None, gt=0)  # stop (validate, export) after this much training time
    batch_size: int = Field(4, ge=1)  # windows per step per process
    crop: int | None = Field(None, ge=8)  # random square training crops; None: whole frames
    lr: float = Field(1e-4, gt=0)  # generator (the discriminator's is gan.lr: TTUR)
    lr_schedule: Literal["constant", "cosine"] = "constant"  # cosine: down to lr / 10 at the run's end
    warmup_steps: int = Field(0, ge=0)  # linear warm-up of both learning rates from ~0
    betas: tuple[float, float] = (0.5, 0.999)
    ema: float = Field(0.999, ge=0, lt=1)  # EMA decay of the generator's weights; 0: off
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    workers: int | None = Field(None, ge=0)  # DataLoader workers; None: 0 on CPU, up to 8 on CUDA or for an
    # arch with per-window training inputs
    checkpoint_every: int = Field(200, ge=1)  # steps
    validate_every: int | None = Field(None, ge=1)  # steps between validations besides each epoch's end
    keep: int = Field(3, ge=0)  # step checkpoints kept besides last.pt and best.pt
    val_windows: int | None = Field(None, ge=1)  # validation windows per dataset, evenly spaced; None: all
    sample_windows: int = Field(4, ge=0)  # windows in each sample GIF

    @model_validator(mode="after")
    def _fill_arch_defaults(self) -> "TrainConfig":
        arch = get_arch(self.arch)
        self.datasets = [str(Path(d).resolve()) for d in self.datasets]  # a resumed run may start elsewhere
        self.model = resolve_generator_config(self.arch, self.model)
        self.loss = resolve_loss_config(self.arch, self.loss)
        if self.gan.enabled is None:
            self.gan.enabled = arch.adversarial
        self.gan.discriminator = resolve_discriminator_config(self.gan.discriminator)
        if self.mix is not None and len(self.mix) != len(self.datasets):
            raise UsageError(f"--mix has {len(self.mix)} weights for {len(self.datasets)} datasets")
        if self.mix is not None and (min(self.mix) < 0 or sum(self.mix) <= 0):
            raise UsageError("--mix weights must be >= 0 and not all 0")
        return self


class RunManifest(Manifest):
    SCHEMA = "framegen/run"
    SCHEMA_VERSION = 1

    arch: str
    datasets: list[UpstreamRef]  # every training dataset's manifest (`upstream` is the first)
    steps: int
    epochs: float  # epochs done (fractional when stopped by max_steps or max_minutes)
    world_size: int
    device: str
    validation: dict[str, float] | None  # the exported weights' validation numbers
    crossfade: dict[str, float] | None  # the cross-fade baseline on the same windows
    exported_step: int
    export: str  # relative path of model.json


@dataclass
class TrainResult:
    run: Path
    is_main: bool
    steps: int
    validation: dict[str, float] | None
    crossfade: dict[str, float] | None
    exported_step: int
    export: Path
    windows_per_second: float


# ---------------------------------------------------------------------------------------------- data


class WindowSampler(torch.utils.data.Sampler):
    """This process's share of one epoch: (dataset, window, augmentation seed) triples.

    The order is a pure function of (seed, epoch): uniform over all windows without weights, or drawn
    with replacement so that dataset d makes up weights[d] of the epoch. Each of `world_size` processes
    takes every world_size-th sample (the epoch padded to a multiple, as DistributedSampler does).
    `set_epoch(epoch, skip)` starts after `skip` samples: a resumed run replays the same order.
    """

    def __init__(self, lengths: list[int], weights: list[float] | None, seed: int, rank: int, world_size: int):
        self.lengths, self.weights, self.seed = lengths, weights, seed
        self.rank, self.world_size = rank, world_size
        self.offsets = np.cumsum([0, *lengths])
        self.per_rank = math.ceil(sum(lengths) / world_size)
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def epoch_samples(self, epoch: int) -> list[tuple[int, int, int]]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        total = int(self.offsets[-1])
        if self.weights is None:
            order = torch.randperm(total, generator=generator)
        else:
            per_window = torch.cat([torch.full((n,), w / n, dtype=torch.float64)
                                    for n, w in zip(self.lengths, self.weights) if n > 0])
            order = torch.multinomial(per_window, total, replacement=True, generator=generator)
        aug_seeds = torch.randint(0, 2**62, (total,), generator=generator)
        padded = torch.arange(self.per_rank * self.world_size) % total
        mine = padded[self.rank :: self.world_size]
        samples = []
        for position in mine.tolist():
            index = int(order[position])
            dataset = int(np.searchsorted(self.offsets, index, side="right") - 1)
            samples.append((dataset, index - int(self.offsets[dataset]), int(aug_seeds[position])))
        return samples

    def __iter__(self):
        return iter(self.epoch_samples(self.epoch)[self.skip :])

    def __len__(self) -> int:
        return self.per_rank - self.skip


class SeededWindows(torch.utils.data.Dataset):
    """Windows of several datasets; each item's augmentation is drawn from its own seed.

    An item is (window, generator kwargs, loss kwargs): the arch's `training_inputs` of the window, or two
    empty dicts.
    """

    def __init__(self, datasets: list[WindowDataset], training_inputs=None):
        self.datasets, self.training_inputs = datasets, training_inputs

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)

    def __getitem__(self, key: tuple[int, int, int]) -> tuple[torch.Tensor, dict, dict]:
        dataset, index, seed = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            window = self.datasets[dataset][index]  # (T, 3, H, W) uint8
        if self.training_inputs is None:
            return window, {}, {}
        return window, *self.training_inputs(window, window_times(1, window.shape[0], torch.device("cpu"))[0])


def open_training_data(config: TrainConfig):
    """(train datasets, validation datasets, dataset manifest paths, training frame (height, width))."""
    folders = [Path(d) for d in config.datasets]
    if not folders:
        raise UsageError("no dataset given")
    train_sets = [WindowDataset(folder, "train", crop=config.crop, augment=True) for folder in folders]
    manifests = [d.manifest for d in train_sets]
    lengths = {m.window_length for m in manifests}
    if len(lengths) > 1:
        raise UsageError(f"datasets have different window lengths {sorted(lengths)}; train on one length at a time")
    if min(lengths) < 3:
        raise InputError(f"{folders[0]}: windows of {min(lengths)} frames have no in-between to learn")
    if config.crop is None and len({(m.height, m.width) for m in manifests}) > 1:
        raise UsageError("datasets have different frame sizes: train on --crop squares")
    if sum(len(d) for d in train_sets) == 0:
        raise InputError(f"{', '.join(map(str, folders))}: no training windows")
    movie = [f for f, m in zip(folders, manifests) if m.kind == "movie"]
    val_folders = folders if config.validate_synthetic or not movie else movie
    val_sets = [d for d in (WindowDataset(f, "val") for f in val_folders) if len(d) > 0]
    size = (config.crop, config.crop) if config.crop else (manifests[0].height, manifests[0].width)
    return train_sets, val_sets, [manifest_path(f) for f in folders], size


def check_frame_size(size: tuple[int, int], size_multiple: int) -> None:
    h, w = size
    if h % size_multiple or w % size_multiple:
        raise UsageError(f"training frames {w}x{h} are not multiples of the model's {size_multiple} px: "
                         f"use --crop with a multiple of {size_multiple}")


def learning_rate_factor(config: TrainConfig, step: int, progress: float) -> float:
    """nanoGPT's schedule, as a factor of the configured learning rates: linear warm-up over the first
    `warmup_steps`, then constant, or a cosine from 1 down to 0.1 at progress 1 (the run's last step, or
    its --max-minutes, whichever comes first)."""
    if step < config.warmup_steps:
        return (step + 1) / (config.warmup_steps + 1)
    if config.lr_schedule == "constant":
        return 1.0
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


# ---------------------------------------------------------------------------------------------- models


class EMA:
    """Exponential moving average of a model's weights (with timm's warm-up: decay grows with steps)."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = decay

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(list(self.model.parameters()), list(model.parameters()), 1 - decay)
        for ema_buffer, buffer in zip(self.model.buffers(), model.buffers()):
            ema_buffer.copy_(buffer)  # spectral-norm power-iteration vectors


def set_requires_grad(module: torch.nn.Module, flag: bool) -> None:
    for parameter in module.parameters():
        parameter.requires_grad_(flag)


def autocast_context(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type == "cpu":
        raise UsageError("--precision fp16 needs CUDA; use bf16 or fp32 on the CPU")
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def window_times(batch: int, length: int, device: torch.device) -> torch.Tensor:
    """(batch, length) times k / (length - 1), k = 0 .. length - 1: every frame of a window."""
    return torch.linspace(0, 1, length, device=device).expand(batch, length)


# ---------------------------------------------------------------------------------------------- validation


@torch.no_grad()
def validate(model: torch.nn.Module, val_sets: list[WindowDataset], device: torch.device, amp, batch_size: int,
             limit: int | None) -> tuple[dict[str, float], dict[str, float]] | None:
    """Mean PSNR/SSIM/MS-SSIM over every in-between frame of the validation windows: (model, cross-fade)."""
    sums = {"model": {}, "crossfade": {}}
    frames = 0
    for dataset in val_sets:
        indices = evenly_spaced(len(dataset), limit)
        for start in range(0, len(indices), batch_size):
            window = to_float(torch.stack([dataset[i] for i in indices[start : start + batch_size]]).to(device))
            b, t = window.shape[:2]
            frame0, frame1, real = window[:, 0], window[:, -1], window[:, 1:-1]  # real: (B, T-2, 3, H, W)
            times = window_times(b, t, device)[:, 1:-1]
            with amp:
                predicted = interpolate_padded(model, frame0, frame1, times).float().clamp(0, 1)
            crossfade = crossfade_frames(frame0, frame1, times)
            for name, prediction in (("model", predicted), ("crossfade", crossfade)):
                for metric, values in all_metrics(prediction.flatten(0, 1), real.flatten(0, 1)).items():
                    sums[name][metric] = sums[name].get(metric, 0.0) + float(values.sum())
            frames += real.shape[0] * real.shape[1]
    if frames == 0:
        return None
    return ({k: v / frames for k, v in sums["model"].items()}, {k: v / frames for k, v in sums["crossfade"].items()})


def evenly_spaced(count: int, limit: int | None) -> list[int]:
    if limit is None or limit >= count:
        return list(range(count))
    return [round(i * (count - 1) / max(limit - 1, 1)) for i in range(limit)]


def crossfade_frames(frame0: torch.Tensor, frame1: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    """The baseline: (1 - t) * frame0 + t * frame1, (B, K, 3, H, W) in [0, 1]."""
    t = times.view(*times.shape, 1, 1, 1)
    return (1 - t) * frame0.unsqueeze(1) + t * frame1.unsqueeze(1)


@torch.no_grad()
def write_samples(path: Path, model: torch.nn.Module, dataset: WindowDataset, count: int, device, amp) -> None:
    """An animated GIF: one row per validation window, columns real | cross-fade | model."""
    window = to_float(torch.stack([dataset[i] for i in evenly_spaced(len(dataset), count)]).to(device))
    b, t = window.shape[:2]
    times = window_times(b, t, device)
    with amp:
        middle = interpolate_padded(model, window[:, 0], window[:, -1], times[:, 1:-1]).float().clamp(0, 1)
    predicted = torch.cat([window[:, :1], middle, window[:, -1:]], dim=1)
    columns = [window, crossfade_frames(window[:, 0], window[:, -1], times), predicted]  # (B, T, 3, H, W) each
    sheet = torch.cat([torch.cat([c[i] for c in columns], dim=-1) for i in range(b)], dim=-2)  # (T, 3, BH, 3W)
    scale = SAMPLE_TILE / max(window.shape[-2:])
    if scale < 1:
        sheet = torch.nn.functional.interpolate(sheet, scale_factor=scale, mode="area")
    images = (sheet.permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)  # (T, h, w, 3) RGB
    path.parent.mkdir(parents=True, exist_ok=True)
    write_animation(path, list(images), fps=SAMPLE_FPS)


def tensorboard_writer(run: Path):
    """A TensorBoard writer into RUN/tensorboard/ when the tensorboard package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run / "tensorboard"))


def metrics_text(metrics: dict[str, float]) -> str:
    return f"PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.4f}, MS-SSIM {metrics['ms_ssim']:.4f}"


def append_metrics(path: Path, row: dict[str, Any]) -> None:
    """Append one row to metrics.csv (header written with the first row)."""
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


# ---------------------------------------------------------------------------------------------- run folder


def checkpoint_folder(run: Path) -> Path:
    return Path(run) / "checkpoints"


def saved_config(run: Path) -> dict[str, Any]:
    """The config of the run in `run` (from checkpoints/last.pt, read lazily), to resume it."""
    last = checkpoint_folder(run) / "last.pt"
    if not last.exists():
        raise InputError(f"{run}: no checkpoint to resume ({last} is missing)")
    return load_checkpoint(last, mmap=True)["config"]


def export_run(run: Path) -> tuple[Path, dict[str, Any]]:
    """Export the run's best checkpoint (the last one when none was validated) to RUN/export/.

    Writes the EMA generator when EMA is on. Returns (model.json path, the checkpoint's state).
    """
    folder = checkpoint_folder(run)
    source = folder / "best.pt" if (folder / "best.pt").exists() else folder / "last.pt"
    if not source.exists():
        raise InputError(f"{run}: no checkpoint to export (run `framegen train` first)")
    state = load_checkpoint(source)
    config = state["config"]
    metadata = ExportMetadata(validation=state["validation"], recipe={"step": state["step"], "train": config})
    weights = state["ema"] if state["ema"] is not None else state["generator"]
    return export_model(Path(run) / "export", state["arch"], config["model"], weights, metadata), state


# ---------------------------------------------------------------------------------------------- training


def train(config: TrainConfig, run: Path, resume: bool = False, overwrite: bool = False) -> TrainResult:
    """Train (or resume) the run in `run`; the same call on every torchrun process."""
    run = Path(run)
    # ---- setup: process group, device, precision, seeds
    dist = init_distributed(config.device)
    if not dist.is_main:
        console.set_verbosity(-1)
    try:
        last = checkpoint_folder(run) / "last.pt"
        if dist.is_main and not resume and not overwrite and last.exists():
            raise UsageError(f"{run}: holds the checkpoints of an earlier run: --resume continues it, "
                             "--overwrite starts over")
        writing = stage_output(run, "train", overwrite, resume) if dist.is_main else contextlib.nullcontext()
        with writing:
            return _train(config, run, resume, dist)
    finally:
        shutdown(dist)


def _train(config: TrainConfig, run: Path, resume: bool, dist: Distributed) -> TrainResult:
    # ---- setup, continued: precision, seeds
    device = dist.device
    amp = autocast_context(device, config.precision)
    torch.manual_seed(config.seed)  # the same initial weights on every process
    np.random.seed(config.seed)
    random.seed(config.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    # ---- data: training windows (mixed by weight), validation windows
    train_sets, val_sets, dataset_manifests, frame_size = open_training_data(config)
    sampler = WindowSampler([len(d) for d in train_sets], config.mix, config.seed, dist.rank, dist.world_size)
    workers = config.workers
    training_inputs = None  # no arch has per-window loader inputs any more (the motion arch is retired)
    if workers is None:  # a CPU step takes seconds, loading a window a millisecond; a GPU step, or an arch
        # with per-window training inputs (tens of ms of CPU a window), needs helpers
        busy = device.type == "cuda" or training_inputs is not None
        workers = min(8, os.cpu_count() or 1) if busy else 0
    loader = torch.utils.data.DataLoader(
        SeededWindows(train_sets, training_inputs), batch_size=config.batch_size, sampler=sampler, num_workers=workers,
        pin_memory=device.type == "cuda", persistent_workers=workers > 0, generator=torch.Generator(),
    )
    steps_per_epoch = math.ceil(sampler.per_rank / config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)

    # ---- models: generator + its loss, discriminator when the GAN part is on, EMA, optimizers
    generator = build_generator(config.arch, config.model).to(device)
    check_frame_size(frame_size, generator.size_multiple)
    criterion = build_loss(config.arch, config.loss)
    discriminator = build_discriminator(config.gan.discriminator).to(device) if config.gan.enabled else None
    adversarial = AdversarialLoss(config.gan.loss)
    if device.type == "cuda":
        generator.to(memory_format=torch.channels_last)
        if discriminator is not None:
            discriminator.to(memory_format=torch.channels_last)
    ema = EMA(generator, config.ema) if config.ema > 0 else None
    optimizer_g = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=config.betas)
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=config.gan.lr, betas=config.betas) \
        if discriminator is not None else None
    scaler_g = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")
    scaler_d = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")

    # ---- resume: every state from checkpoints/last.pt
    step, epoch, batch_in_epoch, best_psnr = 0, 0, 0, -math.inf
    if resume:
        state = load_checkpoint(checkpoint_folder(run) / "last.pt", arch=config.arch)
        if state["config"]["model"] != config.model:
            raise InputError(f"{run}: the checkpoint's model config differs from the one asked for; "
                             "resume without changing [model]")
        generator.load_state_dict(state["generator"])
        optimizer_g.load_state_dict(state["optimizer_g"])
        scaler_g.load_state_dict(state["scaler_g"])
        if discriminator is not None:
            if state["discriminator"] is None:
                raise InputError(f"{run}: the checkpoint has no discriminator; resume with the GAN part off")
            discriminator.load_state_dict(state["discriminator"])
            optimizer_d.load_state_dict(state["optimizer_d"])
            scaler_d.load_state_dict(state["scaler_d"])
        if ema is not None:
            ema.model.load_state_dict(state["ema"] if state["ema"] is not None else state["generator"])
        step, epoch, batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        best_psnr = state["best_psnr"]
        restore_rng(state["rng"])
        console.log(f"Resuming {run} at step {step} (epoch {epoch + 1}, batch {batch_in_epoch})")

    # DistributedDataParallel: buffers are not broadcast on each forward: the spectral-norm vectors change in
    # every forward, and the discriminator runs twice per step (pix2pix/SN-GAN + DDP pitfall).
    raw_generator, raw_discriminator = generator, discriminator
    if dist.enabled:
        ids = [device.index] if device.type == "cuda" else None
        generator = DistributedDataParallel(generator, device_ids=ids, broadcast_buffers=False)
        if discriminator is not None:
            discriminator = DistributedDataParallel(discriminator, device_ids=ids, broadcast_buffers=False)

    def set_learning_rates(progress: float) -> None:
        factor = learning_rate_factor(config, step, progress)
        for optimizer, lr in ((optimizer_g, config.lr), (optimizer_d, config.gan.lr)):
            for group in optimizer.param_groups if optimizer is not None else ():
                group["lr"] = lr * factor

    def train_step(window: torch.Tensor, generator_inputs: dict, loss_inputs: dict) -> dict[str, torch.Tensor]:
        """One GAN step in pix2pix order: discriminator on detached fakes, then generator."""
        window = to_float(window.to(device, non_blocking=True))  # (B, T, 3, H, W) float in [0, 1]
        generator_inputs, loss_inputs = ({k: v.to(device, non_blocking=True) for k, v in inputs.items()}
                                         for inputs in (generator_inputs, loss_inputs))
        frame0, frame1 = window[:, 0], window[:, -1]
        times = window_times(window.shape[0], window.shape[1], device)
        with amp:
            outputs = generator(frame0, frame1, times, window if criterion.needs_targets else None,
                                intermediates=True, **generator_inputs)
        fake = outputs["frames"]  # (B, T, 3, H, W) in [0, 1]
        terms: dict[str, torch.Tensor] = {}
        if discriminator is not None:
            set_requires_grad(raw_discriminator, True)
            with amp:  # one forward over real and fake windows together
                scores = discriminator(frame0.repeat(2, 1, 1, 1), frame1.repeat(2, 1, 1, 1), times.repeat(2, 1),
                                       torch.cat([window, fake.detach()]))
                real_scores, fake_scores = scores.chunk(2)
                d_loss = adversarial.discriminator(real_scores, fake_scores)
            optimizer_d.zero_grad(set_to_none=True)
            scaler_d.scale(d_loss).backward()
            scaler_d.step(optimizer_d)
            scaler_d.update()
            set_requires_grad(raw_discriminator, False)
            terms["d"] = d_loss.detach()
        with amp:
            g_terms = criterion(outputs, window, **loss_inputs)
            if discriminator is not None:  # the raw module: no gradient sync for a discriminator it does not train
                g_terms["adversarial"] = config.gan.weight * adversarial.generator(
                    raw_discriminator(frame0, frame1, times, fake))
            g_loss = sum(g_terms.values())
        optimizer_g.zero_grad(set_to_none=True)
        scaler_g.scale(g_loss).backward()
        scaler_g.step(optimizer_g)
        scaler_g.update()
        if ema is not None:
            ema.update(raw_generator, step)
        return {"g": g_loss.detach(), **{k: v.detach() for k, v in g_terms.items()}, **terms}

    # ---- loop
    eval_model = ema.model if ema is not None else raw_generator
    saver = CheckpointSaver(checkpoint_folder(run), config.keep) if dist.is_main else None
    tensorboard = tensorboard_writer(run) if dist.is_main else None
    running: dict[str, torch.Tensor] = {}
    running_steps, train_seconds, train_windows = 0, 0.0, 0
    validated_at = -1

    def save(validation) -> None:
        nonlocal best_psnr
        is_best = validation is not None and validation[0]["psnr"] > best_psnr
        if is_best:
            best_psnr = validation[0]["psnr"]
        saver.save({
            "arch": config.arch, "config": config.model_dump(mode="json"),
            "step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch, "best_psnr": best_psnr,
            "validation": validation[0] if validation else None,
            "crossfade": validation[1] if validation else None,
            "generator": raw_generator.state_dict(), "optimizer_g": optimizer_g.state_dict(),
            "scaler_g": scaler_g.state_dict(),
            "discriminator": raw_discriminator.state_dict() if raw_discriminator is not None else None,
            "optimizer_d": optimizer_d.state_dict() if optimizer_d is not None else None,
            "scaler_d": scaler_d.state_dict(),
            "ema": ema.model.state_dict() if ema is not None else None,
            "rng": rng_state(), "world_size": dist.world_size,
        }, step, is_best)

    def validate_and_save() -> None:
        """Rank 0: validation, sample GIF, checkpoint, metrics.csv row; the others wait."""
        nonlocal validated_at, running, running_steps
        if dist.is_main:
            raw_generator.eval()
            validation = validate(eval_model, val_sets, device, amp, config.batch_size, config.val_windows)
            if val_sets and config.sample_windows:
                write_samples(run / "samples" / f"step-{step:08d}.gif", eval_model, val_sets[0],
                              config.sample_windows, device, amp)
            raw_generator.train()
            save(validation)
            losses = {f"loss_{k}": round(float(v) / max(running_steps, 1), 6) for k, v in running.items()}
            row = {"epoch": round(epoch_progress(), 3), "step": step}
            if validation is not None:
                model_metrics, crossfade = validation
                row |= {k: round(v, 4) for k, v in model_metrics.items()}
                row |= {f"crossfade_{k}": round(v, 4) for k, v in crossfade.items()}
                console.log(f"step {step} validation: {metrics_text(model_metrics)}")
                console.log(f"{' ' * len(str(step))}  cross-fade: {metrics_text(crossfade)}")
            row |= losses | {"windows_per_s": round(train_windows / max(train_seconds, 1e-9), 3)}
            append_metrics(run / "metrics.csv", row)
            if tensorboard is not None:
                for name, value in row.items():
                    tensorboard.add_scalar(name, value, step)
                tensorboard.flush()
        validated_at = step
        running, running_steps = {}, 0
        barrier(dist)

    def epoch_progress() -> float:
        return epoch + batch_in_epoch / steps_per_epoch

    def status_text() -> str:
        """Mean losses since the last validation and the training speed."""
        losses = " ".join(f"{k} {float(v) / max(running_steps, 1):.3f}" for k, v in running.items())
        return f"{losses} | {train_windows / max(train_seconds, 1e-9):.2f} windows/s"

    console.log(f"Training {config.arch} on {sum(len(d) for d in train_sets)} windows, {device}, {config.precision}")
    console.log(f"{steps_per_epoch} steps/epoch of {config.batch_size} x {dist.world_size} process(es); "
                f"{total_steps - step} steps to go")
    status = TextColumn("{task.fields[status]}")
    started = time.perf_counter()  # for max_minutes: this session's wall time, validation included
    progress = step / total_steps  # of the run, for the learning-rate schedule
    with console.progress(status, unit="steps") as bar:
        task = bar.add_task("train", total=total_steps, completed=step, status="")
        while step < total_steps:
            sampler.set_epoch(epoch, skip=batch_in_epoch * config.batch_size)
            tick = time.perf_counter()
            for window, generator_inputs, loss_inputs in loader:
                set_learning_rates(progress)
                terms = train_step(window, generator_inputs, loss_inputs)
                for name, value in terms.items():
                    running[name] = running.get(name, 0) + value
                running_steps += 1
                step += 1
                batch_in_epoch += 1
                train_seconds += time.perf_counter() - tick  # loading + step; validation and checkpoints excluded
                train_windows += window.shape[0] * dist.world_size
                if step % DISPLAY_EVERY == 0 or step == 1:
                    bar.update(task, status=status_text())
                bar.update(task, completed=step)
                if batch_in_epoch == steps_per_epoch:  # the epoch is done
                    epoch, batch_in_epoch = epoch + 1, 0
                    validate_and_save()
                elif config.validate_every is not None and step % config.validate_every == 0:
                    validate_and_save()
                elif step % config.checkpoint_every == 0:
                    if dist.is_main:
                        save(None)
                        console.log(f"step {step}: {status_text()}; checkpoint saved")
                    barrier(dist)
                progress = step / total_steps
                if config.max_minutes is not None:  # the same time on every process: the slowest one's
                    minutes = largest(dist, (time.perf_counter() - started) / 60)
                    progress = max(progress, minutes / config.max_minutes)
                    if minutes > config.max_minutes:
                        total_steps = step  # out of time: stop here as if this were the last step
                if step >= total_steps:
                    break
                tick = time.perf_counter()

    # ---- finish: last validation, export, run manifest
    if validated_at != step:
        validate_and_save()
    if tensorboard is not None:
        tensorboard.close()
    rate = train_windows / max(train_seconds, 1e-9)
    export_json = run / "export" / "model.json"
    if not dist.is_main:
        return TrainResult(run, False, step, None, None, -1, export_json, rate)
    export_json, exported = export_run(run)
    refs = [upstream_ref(run, m) for m in dataset_manifests]
    manifest = RunManifest(
        **RunManifest.header(config.model_dump(mode="json"), refs[0]),
        arch=config.arch, datasets=refs, steps=step, epochs=round(epoch_progress(), 4),
        world_size=dist.world_size, device=str(device), validation=exported["validation"],
        crossfade=exported["crossfade"], exported_step=exported["step"],
        export=export_json.relative_to(run).as_posix(),
    )
    write_manifest(manifest, run)
    return TrainResult(run, True, step, exported["validation"], exported["crossfade"], exported["step"],
                       export_json, rate)
