"""The options of a training run (`TrainConfig`) and its learning-rate schedule."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from framegen.core.errors import UsageError
from framegen.core.models.device import runs_on_cpu
from framegen.core.models.registry import (
    get_arch,
    resolve_discriminator_config,
    resolve_generator_config,
)
from framegen.core.training.cycle import CYCLE_ARCHS
from framegen.core.training.losses import GanConfig, resolve_loss_config
from framegen.core.training.pairs import TimesMode

Objective = Literal["direct", "cycle"]  # what a step compares with the real frame (TrainConfig.objective)

# what each arch learns from by default (core/training/pairs.py); rife3hd makes midpoints only
DEFAULT_TIMES: dict[str, TimesMode] = {"mipal": "window", "rife4": "random", "rife3hd": "midpoints"}

# Defaults of a run that starts from published or trained weights (`init`), below the config file and the
# flags: a low rate, validation at step 0 and every 500 steps (early stopping on the held-out shots; a
# movie's epoch is a few dozen steps, too short to validate after each), EMA, a pull towards the starting
# weights (L2-SP), 128 px crops (the RIFE probe found full frames no better per minute), one random t per
# window (the arch's `times`). docs/training.md has the measurements.
FINETUNE_DEFAULTS: dict[str, Any] = {
    "lr": 5e-6, "betas": (0.9, 0.999), "batch_size": 4, "crop": 128, "ema": 0.999, "l2_sp": 0.01,
    "small_gap": 0.25, "validate_every": 500, "validate_each_epoch": False, "epochs": 1000,
    "warmup_steps": 100,
}

# What a from-scratch mipal run on a CPU trains when no [model] settings are given (and not --full-size):
# the small model of recipes/small.toml, on 128 px crops, so that a CPU makes visible progress in minutes
# (the full model takes about 2 minutes a step there). Below the config file and the flags.
SMALL_CPU_DEFAULTS: dict[str, Any] = {"model": {"width": 0.25, "refiner_depth": 6}, "crop": 128, "batch_size": 4}


class TrainConfig(BaseModel):
    """Everything that defines a run; saved in every checkpoint and in the run manifest."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # lr = inf is a usage error (exit 2)

    datasets: list[str] = Field(default_factory=list)  # dataset folders (absolute paths)
    mix: list[float] | None = None  # sampling weight of each dataset; None: every window equally likely
    validate_synthetic: bool = False  # also validate on synthetic datasets (default: movie datasets only)
    arch: str = "mipal"
    init: str | None = None  # start from these weights: an installed NAME or an export folder (weights.py)
    times: TimesMode | None = None  # which frames a step learns from (training_pairs.py); None: the arch's
    objective: Objective = "direct"  # direct: f(A, B) -> M; cycle: f(f(A, M), f(M, B)) -> M (training/cycle.py)
    cycle_pull: float = Field(0.1, ge=0)  # the cycle's pull towards the `init` weights' outputs
    small_gap: float = Field(0.25, ge=0, le=1)  # share of (i, i+2) -> i+1 triplets (times "all" / "random")
    l2_sp: float = Field(0.0, ge=0)  # weight of the L2-SP pull towards the `init` weights (losses.L2SP)
    model: dict[str, Any] = Field(default_factory=dict)  # the arch's generator config
    loss: dict[str, Any] = Field(default_factory=dict)  # the arch's loss weights
    gan: GanConfig = Field(default_factory=GanConfig)
    epochs: int = Field(10, ge=1)
    max_steps: int | None = Field(None, ge=1)
    max_minutes: float | None = Field(None, gt=0)  # stop (validate, export) after this much training time
    batch_size: int = Field(4, ge=1, le=4096)  # windows per step per process
    crop: int | None = Field(None, ge=8)  # random square training crops; None: whole frames
    lr: float = Field(1e-4, gt=0)  # generator (the discriminator's is gan.lr: TTUR)
    lr_schedule: Literal["constant", "cosine"] = "constant"  # cosine: down to lr / 10 at the run's end
    warmup_steps: int = Field(0, ge=0)  # linear warm-up of both learning rates from ~0
    betas: tuple[float, float] = (0.5, 0.999)
    ema: float = Field(0.999, ge=0, lt=1)  # EMA decay of the generator's weights; 0: off
    seed: int = Field(0, ge=0, le=2**32 - 1)  # numpy's and torch's seeds
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    workers: int | None = Field(None, ge=0, le=64)  # DataLoader workers; None: 0 on CPU, up to 8 on CUDA
    checkpoint_every: int = Field(200, ge=1)  # steps
    checkpoint_minutes: float | None = Field(10, gt=0)  # also a checkpoint when the last is this old; None: off
    validate_every: int | None = Field(None, ge=1)  # steps between validations besides each epoch's end
    validate_each_epoch: bool = True  # also validate at each epoch's end (off: every validate_every steps only)
    keep: int = Field(3, ge=0)  # step checkpoints kept besides last.pt and best.pt
    val_windows: int | None = Field(None, ge=1)  # validation windows per dataset, evenly spaced; None: all
    sample_windows: int = Field(4, ge=0)  # windows in each sample GIF

    @model_validator(mode="before")
    @classmethod
    def _fill_finetune_defaults(cls, values: Any) -> Any:
        """A run with `init` takes FINETUNE_DEFAULTS for what neither the config file nor the flags set."""
        if isinstance(values, dict) and values.get("init") is not None:
            return {**FINETUNE_DEFAULTS, **values}
        return values

    @model_validator(mode="after")
    def _fill_arch_defaults(self) -> "TrainConfig":
        arch = get_arch(self.arch)
        self.datasets = [str(Path(d).resolve()) for d in self.datasets]  # a resumed run may start elsewhere
        self.model = resolve_generator_config(self.arch, self.model)
        self.loss = resolve_loss_config(self.arch, self.loss)
        if self.gan.enabled is None:
            self.gan.enabled = arch.adversarial
        self.gan.discriminator = resolve_discriminator_config(self.gan.discriminator)
        if self.objective == "cycle":
            check_cycle(self)
        if self.times is None:
            self.times = DEFAULT_TIMES.get(self.arch, "window")
        if self.arch == "rife3hd" and self.times != "midpoints":
            raise UsageError(f"--arch rife3hd makes midpoints only: train it with times = \"midpoints\", "
                             f"not {self.times!r}")
        if self.l2_sp > 0 and self.init is None:
            raise UsageError("l2_sp pulls towards the starting weights: it needs --init")
        if self.mix is not None and len(self.mix) != len(self.datasets):
            raise UsageError(f"--mix has {len(self.mix)} weights for {len(self.datasets)} datasets")
        if self.mix is not None and (min(self.mix) < 0 or sum(self.mix) <= 0):
            raise UsageError("--mix weights must be >= 0 and not all 0")
        return self


def check_cycle(config: TrainConfig) -> None:
    """The cycle objective learns midpoints (A, M, B) -> M from a network that already interpolates: it needs
    a RIFE arch started from weights (from scratch every network that copies its inputs has a perfect cycle)
    and no GAN part."""
    if config.arch not in CYCLE_ARCHS:
        raise UsageError(f"--objective cycle trains {' or '.join(CYCLE_ARCHS)}, not --arch {config.arch}")
    if config.init is None:
        raise UsageError("--objective cycle adapts weights that already interpolate: it needs --init")
    if config.times not in (None, "midpoints"):
        raise UsageError(f"--objective cycle learns from midpoint triplets: --times {config.times} does not apply")
    if config.gan.enabled:
        raise UsageError("--objective cycle has no GAN part: turn [gan] enabled off")
    config.times = "midpoints"


def takes_small_cpu_defaults(config: TrainConfig) -> bool:
    """Whether a new run of `config` may take SMALL_CPU_DEFAULTS: mipal from scratch, on a CPU. (Only when no
    [model] settings were given, which the caller sees: they would win over the defaults.)"""
    return config.arch == "mipal" and config.init is None and runs_on_cpu(config.device)


def learning_rate_factor(config: TrainConfig, step: int, progress: float) -> float:
    """nanoGPT's schedule, as a factor of the configured learning rates: linear warm-up over the first
    `warmup_steps`, then constant, or a cosine from 1 down to 0.1 at progress 1 (the run's last step, or
    its --max-minutes, whichever comes first)."""
    if step < config.warmup_steps:
        return (step + 1) / (config.warmup_steps + 1)
    if config.lr_schedule == "constant":
        return 1.0
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
