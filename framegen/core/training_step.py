"""The models phase of training and the step: everything a step updates, in one object, and the step.

`TrainingModels` owns the generator and its loss, the discriminator (when the GAN part is on), both
optimizers and gradient scalers and the EMA of the generator, with `state_dict()` / `load_state_dict()`:
what a checkpoint saves and a resumed run loads. `train_step` is one update in pix2pix order for any
generator of the registry (`forward(frame0, frame1, times, targets, intermediates=True)` and its arch's
loss) on the frames core/training_pairs.py picked from a batch of windows; bench/bench_train.py times the
same function in a bare loop.

A run with `init` starts the generator (and its EMA) from those weights (`load_init`: an installed NAME or
an export folder, of the same arch, loaded strictly), keeps them as `init_generator` for validation to
score once, and adds the L2-SP pull towards them when `l2_sp` > 0.
"""

from __future__ import annotations

import contextlib
import copy
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from framegen.core.checkpoint import load_exported
from framegen.core.distributed import Distributed
from framegen.core.errors import InputError, UsageError
from framegen.core.losses import L2SP, AdversarialLoss, build_loss
from framegen.core.models.registry import build_discriminator, build_generator
from framegen.core.train_config import TrainConfig
from framegen.core.training_pairs import TrainingPairs
from framegen.core.weights import resolve_export


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


class TrainingModels:
    """Generator + loss, discriminator + adversarial loss (GAN part on), optimizers, scalers, EMA."""

    def __init__(self, config: TrainConfig, device: torch.device, frame_size: tuple[int, int] | None = None):
        self.generator = build_generator(config.arch, config.model)
        self.init_generator = load_init(config, self.generator) if config.init is not None else None
        self.generator.to(device)
        self.regulariser = L2SP({k: v.to(device) for k, v in self.init_generator.state_dict().items()}, config.l2_sp) \
            if self.init_generator is not None and config.l2_sp > 0 else None
        if frame_size is not None:
            check_frame_size(frame_size, self.generator.size_multiple)
        self.criterion = build_loss(config.arch, config.loss)
        self.discriminator = build_discriminator(config.gan.discriminator).to(device) if config.gan.enabled else None
        self.adversarial, self.gan_weight = AdversarialLoss(config.gan.loss), config.gan.weight
        if device.type == "cuda":
            for module in (self.generator, self.discriminator):
                if module is not None:
                    module.to(memory_format=torch.channels_last)
        self.ema = EMA(self.generator, config.ema) if config.ema > 0 else None
        self.optimizer_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr, betas=config.betas)
        self.optimizer_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.gan.lr, betas=config.betas) \
            if self.discriminator is not None else None
        self.scaler_g = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")
        self.scaler_d = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")
        self.learning_rates = (config.lr, config.gan.lr)
        # the modules the step calls: DistributedDataParallel wrappers under torchrun, else the modules
        self.step_generator, self.step_discriminator = self.generator, self.discriminator

    def wrap_distributed(self, dist: Distributed) -> None:
        """DDP without broadcasting buffers on each forward: the spectral-norm vectors change in every forward,
        and the discriminator runs twice per step (pix2pix/SN-GAN + DDP pitfall)."""
        if not dist.enabled:
            return
        ids = [dist.device.index] if dist.device.type == "cuda" else None
        self.step_generator = DistributedDataParallel(self.generator, device_ids=ids, broadcast_buffers=False)
        if self.discriminator is not None:
            self.step_discriminator = DistributedDataParallel(self.discriminator, device_ids=ids,
                                                              broadcast_buffers=False)

    @property
    def eval_model(self) -> torch.nn.Module:
        """The generator that is validated and exported: its EMA when EMA is on."""
        return self.ema.model if self.ema is not None else self.generator

    def set_learning_rates(self, factor: float) -> None:
        for optimizer, lr in zip((self.optimizer_g, self.optimizer_d), self.learning_rates):
            for group in optimizer.param_groups if optimizer is not None else ():
                group["lr"] = lr * factor

    def update_ema(self, step: int) -> None:
        if self.ema is not None:
            self.ema.update(self.generator, step)

    def state_dict(self) -> dict[str, Any]:
        """Every state of the models and their optimizers (tensors and primitives; None for parts that are off)."""
        d = self.discriminator
        return {
            "generator": self.generator.state_dict(), "optimizer_g": self.optimizer_g.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "discriminator": d.state_dict() if d is not None else None,
            "optimizer_d": self.optimizer_d.state_dict() if d is not None else None,
            "scaler_d": self.scaler_d.state_dict(),
            "ema": self.ema.model.state_dict() if self.ema is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any], source: Path) -> None:
        """Load what `state_dict` saved (from the checkpoint `source`, named in errors)."""
        self.generator.load_state_dict(state["generator"])
        self.optimizer_g.load_state_dict(state["optimizer_g"])
        self.scaler_g.load_state_dict(state["scaler_g"])
        if self.discriminator is not None:
            if state["discriminator"] is None:
                raise InputError(f"{source}: the checkpoint has no discriminator; resume with the GAN part off")
            self.discriminator.load_state_dict(state["discriminator"])
            self.optimizer_d.load_state_dict(state["optimizer_d"])
            self.scaler_d.load_state_dict(state["scaler_d"])
        if self.ema is not None:
            self.ema.model.load_state_dict(state["ema"] if state["ema"] is not None else state["generator"])


def load_init(config: TrainConfig, generator: torch.nn.Module) -> torch.nn.Module:
    """Load the `init` weights strictly into `generator`; return a frozen copy of them (eval mode, CPU)."""
    start, info = load_exported(resolve_export(config.init))
    if info.arch != config.arch:
        raise UsageError(f"--init {config.init}: weights of arch {info.arch!r}; train them with --arch {info.arch}")
    try:
        generator.load_state_dict(start.state_dict(), strict=True)
    except RuntimeError as e:
        raise InputError(f"--init {config.init}: weights do not fit the {config.arch} model config "
                         f"({str(e).splitlines()[0]})") from None
    return start.requires_grad_(False)


def check_frame_size(size: tuple[int, int], size_multiple: int) -> None:
    h, w = size
    if h % size_multiple or w % size_multiple:
        raise UsageError(f"training frames {w}x{h} are not multiples of the model's {size_multiple} px: "
                         f"use --crop with a multiple of {size_multiple}")


def autocast_context(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type == "cpu":
        raise UsageError("--precision fp16 needs CUDA; use bf16 or fp32 on the CPU")
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def train_step(models: TrainingModels, pairs: TrainingPairs, amp) -> dict[str, torch.Tensor]:
    """One step in pix2pix order: the discriminator on detached fakes, then the generator.

    pairs: inputs, times and targets on the models' device (training_pairs.sample_pairs); `amp`: an
    autocast context or a null one. Returns the detached loss terms: "g" (the generator's total), its
    arch's terms, "l2_sp" with a regulariser, "d" with the GAN part.
    """
    frame0, frame1, times, window = pairs.frame0, pairs.frame1, pairs.times, pairs.targets
    with amp:
        outputs = models.step_generator(frame0, frame1, times, window if models.criterion.needs_targets else None,
                                        intermediates=True)
    fake = outputs["frames"]  # (B, K, 3, H, W) in [0, 1]
    terms: dict[str, torch.Tensor] = {}
    if models.discriminator is not None:
        terms["d"] = discriminator_step(models, frame0, frame1, times, window, fake.detach(), amp)
    with amp:
        g_terms = models.criterion(outputs, window)
        if models.regulariser is not None:
            g_terms["l2_sp"] = models.regulariser(models.generator)
        if models.discriminator is not None:  # the raw module: no gradient sync for a discriminator it does not train
            g_terms["adversarial"] = models.gan_weight * models.adversarial.generator(
                models.discriminator(frame0, frame1, times, fake))
        g_loss = sum(g_terms.values())
    models.optimizer_g.zero_grad(set_to_none=True)
    models.scaler_g.scale(g_loss).backward()
    models.scaler_g.step(models.optimizer_g)
    models.scaler_g.update()
    return {"g": g_loss.detach(), **{k: v.detach() for k, v in g_terms.items()}, **terms}


def discriminator_step(models: TrainingModels, frame0: torch.Tensor, frame1: torch.Tensor, times: torch.Tensor,
                       real: torch.Tensor, fake: torch.Tensor, amp) -> torch.Tensor:
    """One discriminator update on real and (detached) fake windows, (B, T, 3, H, W) each; its loss."""
    models.discriminator.requires_grad_(True)
    with amp:  # one forward over real and fake windows together
        scores = models.step_discriminator(frame0.repeat(2, 1, 1, 1), frame1.repeat(2, 1, 1, 1), times.repeat(2, 1),
                                           torch.cat([real, fake]))
        real_scores, fake_scores = scores.chunk(2)
        d_loss = models.adversarial.discriminator(real_scores, fake_scores)
    models.optimizer_d.zero_grad(set_to_none=True)
    models.scaler_d.scale(d_loss).backward()
    models.scaler_d.step(models.optimizer_d)
    models.scaler_d.update()
    models.discriminator.requires_grad_(False)
    return d_loss.detach()
