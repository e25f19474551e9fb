"""Training losses.

Each generator arch has a loss module built from its own config (LOSSES, keyed by the arch's name in
models/registry.py; losses import no model): it reads the dict the generator returns with
`intermediates=True` and the real frames, and returns its weighted terms by name. The adversarial term is
separate (`AdversarialLoss`) because it needs the discriminator, which the trainer owns; any arch can
switch it on or off (`gan.enabled`).

The seed's objective (`--arch mipal`), with the default weights:
    1.0 * L1(stage-1, real) + 1.0 * (1 - MS-SSIM(stage-1, real))       stage 1
  + 0.0 * L1(interpolated code, code of the real frame)                 optional latent term
  + 1.0 * L1(refined, real) + 0.01 * adversarial(refined)              stage 2
The 100:1 ratio of L1 to adversarial weight is pix2pix's (lambda_L1 = 100). MS-SSIM is computed on
images in [0, 1] with data_range=1, with as many scales as the crop allows (5 need > 160 px).
"""

from __future__ import annotations

from typing import Callable, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from framegen.core.config import validate_section
from framegen.core.errors import UsageError
from framegen.core.media.metrics import ms_ssim


class MipalLossConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    l1: float = Field(1.0, ge=0)  # stage 1
    ms_ssim: float = Field(1.0, ge=0)  # stage 1, weight of (1 - MS-SSIM)
    latent: float = Field(0.0, ge=0)  # stage 1, codes; costs an encoder pass over the real frames when > 0
    refined_l1: float = Field(1.0, ge=0)  # stage 2


class MipalLoss(nn.Module):
    def __init__(self, config: MipalLossConfig):
        super().__init__()
        self.config = config
        self.needs_targets = config.latent > 0  # the generator must encode the real frames

    def forward(self, outputs: dict[str, torch.Tensor], targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """outputs: MipalGenerator's intermediates; targets: (B, K, 3, H, W) in [0, 1]. Weighted terms."""
        c = self.config
        stage1 = outputs["stage1"].float().flatten(0, 1)  # (B*K, 3, H, W) in [0, 1]
        real = targets.flatten(0, 1)
        terms = {
            "l1": c.l1 * (stage1 - real).abs().mean(),
            "ms_ssim": c.ms_ssim * (1 - ms_ssim(stage1, real).mean()),
            "refined_l1": c.refined_l1 * (outputs["frames"].float() - targets).abs().mean(),
        }
        if self.needs_targets:
            terms["latent"] = c.latent * (outputs["codes"].float() - outputs["target_codes"].float()).abs().mean()
        return terms


class RifeLossConfig(BaseModel):
    """`--arch rife4` / `rife3hd`: L1 + L1 of the Laplacian pyramids (the fine-tuning probe's loss)."""

    model_config = ConfigDict(extra="forbid")

    l1: float = Field(1.0, ge=0)
    laplacian: float = Field(1.0, ge=0)
    levels: int = Field(5, ge=1, le=8)  # pyramid levels (fewer where the crop is too small)


class RifeLoss(nn.Module):
    needs_targets = False

    def __init__(self, config: RifeLossConfig):
        super().__init__()
        self.config = config
        binomial = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
        self.register_buffer("kernel", (torch.outer(binomial, binomial) / 256).expand(3, 1, 5, 5).clone(),
                             persistent=False)  # (3, 1, 5, 5) Gaussian, one per channel

    def forward(self, outputs: dict[str, torch.Tensor], targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """outputs["frames"], targets: (B, K, 3, H, W) in [0, 1], the frames at the step's times
        (core/training/pairs.py)."""
        frames = outputs["frames"].float().flatten(0, 1)  # (B*K, 3, H, W) in [0, 1]
        real = targets.flatten(0, 1)
        pyramid_l1 = sum((a - b).abs().mean() for a, b in zip(self.pyramid(frames), self.pyramid(real)))
        return {"l1": self.config.l1 * (frames - real).abs().mean(), "laplacian": self.config.laplacian * pyramid_l1}

    def pyramid(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Laplacian pyramid of (N, 3, H, W): band-pass levels, finest first, then the low-pass rest."""
        levels = []
        for _ in range(self.config.levels - 1):
            if min(images.shape[-2:]) < 8:
                break
            blurred = nn.functional.conv2d(nn.functional.pad(images, (2, 2, 2, 2), mode="reflect"),
                                           self.kernel.to(images.dtype), groups=3)
            smaller = blurred[..., ::2, ::2]
            levels.append(images - nn.functional.interpolate(smaller, size=images.shape[-2:], mode="bilinear",
                                                             align_corners=False))
            images = smaller
        return levels + [images]


class L2SP(nn.Module):
    """The L2-SP regulariser (Li, Grandvalet, Davoine 2018): weight * sum of (w - w_start)^2 over a network's
    parameters, a pull towards the weights fine-tuning started from (not towards 0, as weight decay)."""

    def __init__(self, start: dict[str, torch.Tensor], weight: float):
        super().__init__()
        self.start = {name: tensor.detach().clone() for name, tensor in start.items()}
        self.weight = weight

    def forward(self, network: nn.Module) -> torch.Tensor:
        return self.weight * sum((param.float() - self.start[name].to(param.device)).pow(2).sum()
                                 for name, param in network.named_parameters())


LOSSES: dict[str, tuple[type[BaseModel], Callable[[BaseModel], nn.Module]]] = {
    "mipal": (MipalLossConfig, MipalLoss),  # arch name -> (loss config, loss module)
    "rife4": (RifeLossConfig, RifeLoss),
    "rife3hd": (RifeLossConfig, RifeLoss),
}


def loss_spec(arch: str) -> tuple[type[BaseModel], Callable[[BaseModel], nn.Module]]:
    if arch not in LOSSES:
        raise UsageError(f"unknown arch {arch!r} (known: {', '.join(sorted(LOSSES))})")
    return LOSSES[arch]


def resolve_loss_config(arch: str, config: dict) -> dict:
    """The arch's loss config with its defaults filled in (raises UsageError on a bad field)."""
    return validate_section(loss_spec(arch)[0], config, f"{arch} loss").model_dump()


def build_loss(arch: str, config: dict) -> nn.Module:
    config_class, loss = loss_spec(arch)
    return loss(validate_section(config_class, config, f"{arch} loss"))


class GanConfig(BaseModel):
    """The adversarial part: loss kind, weight, discriminator and its learning rate (TTUR)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    enabled: bool | None = None  # None: the arch's default
    loss: Literal["hinge", "lsgan"] = "hinge"
    weight: float = Field(0.01, ge=0)
    lr: float = Field(5e-4, gt=0)
    discriminator: dict = Field(default_factory=dict)  # DiscriminatorConfig fields


class AdversarialLoss:
    """Hinge (SN-GAN, the default: it pairs with spectral norm) or least-squares (LSGAN) GAN losses.

    Scores are the discriminator's unbounded outputs; higher means "real".
    """

    def __init__(self, kind: Literal["hinge", "lsgan"]):
        self.kind = kind

    def discriminator(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        real_scores, fake_scores = real_scores.float(), fake_scores.float()
        if self.kind == "hinge":
            return torch.relu(1 - real_scores).mean() + torch.relu(1 + fake_scores).mean()
        return 0.5 * ((real_scores - 1).pow(2).mean() + fake_scores.pow(2).mean())

    def generator(self, fake_scores: torch.Tensor) -> torch.Tensor:
        fake_scores = fake_scores.float()
        if self.kind == "hinge":
            return -fake_scores.mean()
        return 0.5 * (fake_scores - 1).pow(2).mean()
