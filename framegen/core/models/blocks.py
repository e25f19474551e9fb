"""Building blocks shared by the generators and the discriminator.

- `ResidualBlock`: two 3x3 convolutions and a skip, same resolution and channels.
- `DownBlock`: 4x4 convolution with stride 2 (halves the resolution).
- `UpBlock`: nearest-neighbour upsampling then a 3x3 convolution (doubles the resolution). No transposed
  convolution anywhere: nearest + conv has no checkerboard artefacts (Odena et al. 2016).
- `SkipLayerExcitation` (FastGAN, Liu et al. 2021): a low-resolution feature map, pooled to 4x4, becomes a
  per-channel gate in (0, 1) that multiplies a high-resolution feature map.

No normalisation layers: batches are small (a few windows) and split across processes, and the refiner
and discriminator use spectral normalisation instead. `sn(...)` wraps a layer in spectral normalisation.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

LEAK = 0.2


def sn(layer: nn.Module, enabled: bool = True) -> nn.Module:
    """`layer` with spectral normalisation of its weight when `enabled`. Not on the meta device (a build of
    shapes only, registry.check_generator_size): it adds no parameter, and its power iteration, run there
    through PyTorch's Python reference ops, took longer than building the real network."""
    return spectral_norm(layer) if enabled and not layer.weight.is_meta else layer


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.LeakyReLU(LEAK),
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        self.activation = nn.LeakyReLU(LEAK)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(x + self.body(x))


class DownBlock(nn.Sequential):
    """(B, C_in, H, W) -> (B, C_out, H/2, W/2)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1), nn.LeakyReLU(LEAK))


class UpBlock(nn.Sequential):
    """(B, C_in, H, W) -> (B, C_out, 2H, 2W): nearest-neighbour upsampling + a 3x3 convolution."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.LeakyReLU(LEAK),
        )


class SkipLayerExcitation(nn.Module):
    """Gate a high-resolution map (B, C_high, H, W) with a low-resolution one (B, C_low, h, w)."""

    def __init__(self, low_channels: int, high_channels: int):
        super().__init__()
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(4),
            nn.Conv2d(low_channels, high_channels, 4),  # 4x4 -> 1x1
            nn.LeakyReLU(0.1),
            nn.Conv2d(high_channels, high_channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        return high * self.gate(low)  # gate: (B, C_high, 1, 1) in (0, 1)
