"""The models phase of training: everything a step updates, in one object.

`TrainingModels` owns the generator and its loss, the discriminator (when the GAN part is on), both
optimizers and gradient scalers and the EMA of the generator, with `state_dict()` / `load_state_dict()`:
what a checkpoint saves and a resumed run loads.

A run with `init` starts the generator (and its EMA) from those weights (`load_init`: an installed NAME or
an export folder, of the same arch, loaded strictly), keeps them as `init_generator` for validation to
score once, and adds the L2-SP pull towards them when `l2_sp` > 0."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from framegen.core.errors import InputError, UsageError, first_line
from framegen.core.models.export import load_exported
from framegen.core.models.registry import build_discriminator, build_generator
from framegen.core.models.store import resolve_export
from framegen.core.training.config import TrainConfig
from framegen.core.training.cycle import CycleNetwork
from framegen.core.training.distributed import Distributed
from framegen.core.training.losses import L2SP, AdversarialLoss, build_loss


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
        # the cycle objective's reference: the frozen starting weights (the same module validation scores)
        self.cycle_reference = self.init_generator.to(device) \
            if config.objective == "cycle" and config.cycle_pull > 0 and self.init_generator is not None else None
        self.objective, self.cycle_pull = config.objective, config.cycle_pull
        # the module the step calls (the generator, or its three cycle passes as one), and the discriminator:
        # DistributedDataParallel wrappers under torchrun, else the modules
        self.step_network = CycleNetwork(self.generator) if config.objective == "cycle" else self.generator
        self.step_discriminator = self.discriminator

    def wrap_distributed(self, dist: Distributed) -> None:
        """DDP without broadcasting buffers on each forward: the spectral-norm vectors change in every forward,
        and the discriminator runs twice per step (pix2pix/SN-GAN + DDP pitfall)."""
        if not dist.enabled:
            return
        ids = [dist.device.index] if dist.device.type == "cuda" else None
        self.step_network = DistributedDataParallel(self.step_network, device_ids=ids, broadcast_buffers=False)
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
                         f"({first_line(e)})") from None
    return start.requires_grad_(False)


def check_frame_size(size: tuple[int, int], size_multiple: int) -> None:
    h, w = size
    if h % size_multiple or w % size_multiple:
        raise UsageError(f"training frames {w}x{h} are not multiples of the model's {size_multiple} px: "
                         f"use --crop with a multiple of {size_multiple}")


