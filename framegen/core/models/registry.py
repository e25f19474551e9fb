"""The model factory (pix2pix's define_G / define_D): an arch name and a config dict -> modules.

Adding an arch = one `Arch` entry in ARCHS:
- `generator_config` / `generator`: a pydantic config and the module it builds. Every generator has
  `size_multiple` and `forward(frame0, frame1, times)` -> frames, (B, 3, H, W) x2 + (B, K) in [0, 1] ->
  (B, K, 3, H, W) in [0, 1], for any t; with `intermediates=True` it returns a dict (always holding
  "frames") of whatever its loss reads, and it reads `targets` (the real frames) only when its loss
  says `needs_targets`.
- `loss_config` / `loss`: the arch's loss module, `loss(outputs, targets) -> {name: weighted term}`.
- `adversarial`: whether the GAN part (discriminator + adversarial term, losses.GanConfig) is on by default.
- `training_inputs` (optional): `(window uint8 (T, 3, H, W), times (T,)) -> (generator kwargs, loss kwargs)`,
  per-window work the trainer runs in its data loader (worker processes) instead of inside the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from pydantic import BaseModel, ValidationError
from torch import nn

from framegen.core.errors import UsageError, first_validation_error
from framegen.core.losses import MipalLoss, MipalLossConfig, MotionLoss, MotionLossConfig
from framegen.core.models.discriminator import DiscriminatorConfig, PatchDiscriminator
from framegen.core.models.mipal import MipalConfig, MipalGenerator
from framegen.core.models.motion import MotionConfig, MotionInterpolator, training_inputs


@dataclass(frozen=True)
class Arch:
    name: str
    generator_config: type[BaseModel]
    generator: Callable[[BaseModel], nn.Module]
    loss_config: type[BaseModel]
    loss: Callable[[BaseModel], nn.Module]
    adversarial: bool
    training_inputs: Callable[[torch.Tensor, torch.Tensor], tuple[dict, dict]] | None = None


ARCHS = {
    "mipal": Arch("mipal", MipalConfig, MipalGenerator, MipalLossConfig, MipalLoss, adversarial=True),
    "motion": Arch("motion", MotionConfig, MotionInterpolator, MotionLossConfig, MotionLoss, adversarial=False,
                   training_inputs=training_inputs),
}


def get_arch(name: str) -> Arch:
    if name not in ARCHS:
        raise UsageError(f"unknown arch {name!r} (known: {', '.join(sorted(ARCHS))})")
    return ARCHS[name]


def _validated(cls: type[BaseModel], values: dict, what: str) -> BaseModel:
    try:
        return cls.model_validate(values)
    except ValidationError as e:
        where, message = first_validation_error(e)
        raise UsageError(f"invalid {what} setting {where or what}: {message}") from None


def resolve_generator_config(arch: str, config: dict) -> dict:
    """The arch's generator config with its defaults filled in (raises UsageError on a bad field)."""
    return _validated(get_arch(arch).generator_config, config, f"{arch} model").model_dump()


def resolve_loss_config(arch: str, config: dict) -> dict:
    return _validated(get_arch(arch).loss_config, config, f"{arch} loss").model_dump()


def build_generator(arch: str, config: dict) -> nn.Module:
    spec = get_arch(arch)
    return spec.generator(_validated(spec.generator_config, config, f"{arch} model"))


def build_loss(arch: str, config: dict) -> nn.Module:
    spec = get_arch(arch)
    return spec.loss(_validated(spec.loss_config, config, f"{arch} loss"))


def resolve_discriminator_config(config: dict) -> dict:
    return _validated(DiscriminatorConfig, config, "discriminator").model_dump()


def build_discriminator(config: dict) -> nn.Module:
    return PatchDiscriminator(_validated(DiscriminatorConfig, config, "discriminator"))


def interpolate_padded(generator: nn.Module, frame0: torch.Tensor, frame1: torch.Tensor, times: torch.Tensor):
    """Run `generator` on frames of any size: pad H, W up to its size_multiple, crop the result back.

    frame0, frame1: (B, 3, H, W) in [0, 1]; times (B, K) -> (B, K, 3, H, W) in [0, 1]. Reflect padding
    where it fits (pad < size), edge replication otherwise.
    """
    h, w = frame0.shape[-2:]
    m = generator.size_multiple
    pad_h, pad_w = -h % m, -w % m
    if pad_h == 0 and pad_w == 0:
        return generator(frame0, frame1, times)
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    padded = nn.functional.pad(torch.cat([frame0, frame1]), (0, pad_w, 0, pad_h), mode=mode)
    frames = generator(*padded.chunk(2), times)
    return frames[..., :h, :w]
