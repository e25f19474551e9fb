"""The model factory (pix2pix's define_G / define_D): an arch name and a config dict -> modules.

Adding an arch = one `Arch` entry in ARCHS:
- `generator_config` / `generator`: a pydantic config and the module it builds. Every generator has
  `size_multiple` and `forward(frame0, frame1, times)` -> frames, (B, 3, H, W) x2 + (B, K) in [0, 1] ->
  (B, K, 3, H, W) in [0, 1], for any t; with `intermediates=True` it returns a dict (always holding
  "frames") of whatever its loss reads, and it reads `targets` (the real frames) only when its loss
  says `needs_targets`. Any motion prior a generator needs is an input its caller computes once per pair.
- `adversarial`: whether the GAN part (discriminator + adversarial term, losses.GanConfig) is on by default.
- its loss: the entry of the same name in framegen.core.training.losses.LOSSES (models and losses sit side by side;
  neither imports the other).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from pydantic import BaseModel
from torch import nn

from framegen.core.config import validate_section
from framegen.core.errors import UsageError, first_line
from framegen.core.models.discriminator import DiscriminatorConfig, PatchDiscriminator
from framegen.core.models.mipal import MipalConfig, MipalGenerator
from framegen.core.models.rife import Rife3HD, Rife3HDConfig, Rife4, RifeConfig

MAX_GENERATOR_PARAMETERS = 1_000_000_000  # 4 GB of float32; mipal at width 4 has 662 M, rife4 5.7 M


@dataclass(frozen=True)
class Arch:
    name: str
    generator_config: type[BaseModel]
    generator: Callable[[BaseModel], nn.Module]
    adversarial: bool


ARCHS = {
    "mipal": Arch("mipal", MipalConfig, MipalGenerator, adversarial=True),
    "rife4": Arch("rife4", RifeConfig, Rife4, adversarial=False),
    "rife3hd": Arch("rife3hd", Rife3HDConfig, Rife3HD, adversarial=False),
}


def get_arch(name: str) -> Arch:
    if name not in ARCHS:
        raise UsageError(f"unknown arch {name!r} (known: {', '.join(sorted(ARCHS))})")
    return ARCHS[name]


def resolve_generator_config(arch: str, config: dict) -> dict:
    """The arch's generator config with its defaults filled in (raises UsageError on a bad field)."""
    return validate_section(get_arch(arch).generator_config, config, f"{arch} model").model_dump()


def build_generator(arch: str, config: dict) -> nn.Module:
    spec = get_arch(arch)
    return spec.generator(validate_section(spec.generator_config, config, f"{arch} model"))


def check_generator_size(arch: str, config: dict) -> None:
    """UsageError unless the generator `config` describes has at most MAX_GENERATOR_PARAMETERS: built on
    the meta device (shapes only, no memory), so sizes read from a file are checked before any allocation.
    Costs a few hundredths of a second (the full mipal's spectral norms are left out there: blocks.sn)."""
    spec = get_arch(arch)
    settings = validate_section(spec.generator_config, config, f"{arch} model")
    try:
        with torch.device("meta"):
            parameters = sum(p.numel() for p in spec.generator(settings).parameters())
    except (RuntimeError, ValueError, OverflowError) as e:  # sizes too large even to describe
        raise UsageError(f"{arch} model sizes cannot be built ({first_line(e)})") from None
    if parameters > MAX_GENERATOR_PARAMETERS:
        raise UsageError(f"{arch} model of {parameters:,} parameters is above framegen's limit of "
                         f"{MAX_GENERATOR_PARAMETERS:,}")


def resolve_discriminator_config(config: dict) -> dict:
    return validate_section(DiscriminatorConfig, config, "discriminator").model_dump()


def build_discriminator(config: dict) -> nn.Module:
    return PatchDiscriminator(validate_section(DiscriminatorConfig, config, "discriminator"))


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
