"""Conditional PatchGAN discriminator (pix2pix `NLayerDiscriminator`) with spectral normalisation.

It judges one frame at a time, conditioned on the window's inputs: the two end frames, the frame
(real or generated) and a constant plane holding its time t, 10 channels. Judging frames one by one
keeps it independent of the number of in-betweens. Output: a map of real/fake scores, one per 70x70
patch for the default 3 layers. No normalisation layers: spectral norm only (no BatchNorm statistics to
keep in sync across processes).
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from framegen.core.models.blocks import LEAK, sn


class DiscriminatorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channels: int = Field(64, ge=1)  # pix2pix `ndf`
    layers: int = Field(3, ge=1, le=6)  # pix2pix `n_layers_D`: 3 gives 70x70 patches


class PatchDiscriminator(nn.Module):
    IN_CHANNELS = 10  # frame0, frame1, frame, t

    def __init__(self, config: DiscriminatorConfig):
        super().__init__()
        ndf = config.channels
        widths = [ndf * min(2**n, 8) for n in range(config.layers + 1)]
        layers: list[nn.Module] = [sn(nn.Conv2d(self.IN_CHANNELS, ndf, 4, stride=2, padding=1)), nn.LeakyReLU(LEAK)]
        for n in range(1, config.layers + 1):
            stride = 2 if n < config.layers else 1
            layers += [sn(nn.Conv2d(widths[n - 1], widths[n], 4, stride=stride, padding=1)), nn.LeakyReLU(LEAK)]
        layers.append(sn(nn.Conv2d(widths[-1], 1, 4, stride=1, padding=1)))
        self.layers = nn.Sequential(*layers)

    def forward(self, frame0: torch.Tensor, frame1: torch.Tensor, times: torch.Tensor, frames: torch.Tensor):
        """frame0, frame1: (B, 3, H, W); times: (B, K); frames: (B, K, 3, H, W), all in [0, 1].

        Returns scores (B*K, 1, h, w), unbounded (higher = more real).
        """
        b, k, _, h, w = frames.shape
        ends = torch.cat([frame0, frame1], dim=1).repeat_interleave(k, dim=0)  # (B*K, 6, H, W)
        t_plane = times.reshape(b * k, 1, 1, 1).to(frames.dtype).expand(b * k, 1, h, w)
        return self.layers(torch.cat([ends, frames.flatten(0, 1), t_plane], dim=1))
