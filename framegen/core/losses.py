"""Training losses.

Each generator arch has a loss module built from its own config (registry.Arch.loss): it reads the dict
the generator returns with `intermediates=True` and the real frames, and returns its weighted terms by
name. The adversarial term is separate (`AdversarialLoss`) because it needs the discriminator, which the
trainer owns; any arch can switch it on or off (`gan.enabled`).

The seed's objective (`--arch mipal`), with the default weights:
    1.0 * L1(stage-1, real) + 1.0 * (1 - MS-SSIM(stage-1, real))       stage 1
  + 0.0 * L1(interpolated code, code of the real frame)                 optional latent term
  + 1.0 * L1(refined, real) + 0.01 * adversarial(refined)              stage 2
The 100:1 ratio of L1 to adversarial weight is pix2pix's (lambda_L1 = 100). MS-SSIM is computed on
images in [0, 1] with data_range=1, with as many scales as the crop allows (5 need > 160 px).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from framegen.core.metrics import ms_ssim
from framegen.core.models.motion import backward_warp, teacher_flows


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


class MotionLossConfig(BaseModel):
    """`--arch motion`: L1 + (1 - MS-SSIM) on the frames, plus the distance of the model's flows to teacher
    flows that see the real in-between (models/motion.py: teacher_flows); no GAN by default (a GAN trades
    PSNR for texture)."""

    model_config = ConfigDict(extra="forbid")

    l1: float = Field(1.0, ge=0)
    ms_ssim: float = Field(0.5, ge=0)  # weight of (1 - MS-SSIM)
    flow: float = Field(0.01, ge=0)  # per px of flow error, where the teacher's warp matches the real frame
    teacher_tolerance: float = Field(0.05, gt=0)  # mean colour error at which a teacher flow counts 1/e


class MotionLoss(nn.Module):
    needs_targets = False

    def __init__(self, config: MotionLossConfig):
        super().__init__()
        self.config = config

    def forward(self, outputs: dict[str, torch.Tensor], targets: torch.Tensor,
                teacher: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """outputs["frames"], targets: (B, T, 3, H, W) in [0, 1]; the two end frames are inputs, so skipped.
        teacher: (B, T - 2, 4, H, W) px, teacher_flows(targets) when the loader made it."""
        c = self.config
        frames = outputs["frames"][:, 1:-1].float().flatten(0, 1)  # (B*(T-2), 3, H, W) in [0, 1]
        real = targets[:, 1:-1].flatten(0, 1)
        terms = {"l1": c.l1 * (frames - real).abs().mean(), "ms_ssim": c.ms_ssim * (1 - ms_ssim(frames, real).mean())}
        if c.flow > 0:
            terms["flow"] = c.flow * self.flow_distance(outputs["flows"][:, 1:-1].float(), targets, teacher)
        return terms

    def flow_distance(self, flows: torch.Tensor, window: torch.Tensor,
                      teacher: torch.Tensor | None = None) -> torch.Tensor:
        """Mean px distance of the model's F_t->0, F_t->1 (B, T-2, 4, H, W) to the teacher's, each pixel
        weighted by how well the teacher's own warp reproduces the real frame there (occlusions count little)."""
        if teacher is None:
            teacher = teacher_flows(window)
        teacher = teacher.flatten(0, 1).float()  # (N, 4, H, W) px
        real = window[:, 1:-1].flatten(0, 1)  # (N, 3, H, W)
        in_betweens = window.shape[1] - 2
        warps = [backward_warp(window[:, 0].repeat_interleave(in_betweens, 0), teacher[:, :2]),
                 backward_warp(window[:, -1].repeat_interleave(in_betweens, 0), teacher[:, 2:])]
        errors = torch.cat([(warp - real).abs().mean(1, keepdim=True) for warp in warps], 1)  # (N, 2, H, W)
        weights = torch.exp(-errors / self.config.teacher_tolerance)  # one weight per flow and pixel
        distance = (flows.flatten(0, 1) - teacher).unflatten(1, (2, 2)).norm(dim=2)  # (N, 2, H, W) px
        return (weights * distance).mean()


class GanConfig(BaseModel):
    """The adversarial part: loss kind, weight, discriminator and its learning rate (TTUR)."""

    model_config = ConfigDict(extra="forbid")

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
