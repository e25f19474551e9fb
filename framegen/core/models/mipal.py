"""The seed model, `--arch mipal` ("Animating Images by Frame Interpolation", reconstructed).

Two stages, trained end to end:

1. Encoder-decoder. Each end frame (B, 3, 256, 256) is encoded to a (B, 128, 32, 32) code with residual
   blocks at every resolution; the code of an in-between at time t is the linear interpolation of the two
   end codes; a decoder (nearest-neighbour upsampling + convolution, Skip-Layer Excitation) turns each
   code back into a frame.
2. Refiner: a pix2pix U-Net with spectral normalisation whose up path is nearest-neighbour upsampling + a
   resolution-preserving 3x3 convolution (no transposed convolutions). It sees the stage-1 frame and both
   end frames and predicts a correction added to the stage-1 frame.

Known weakness (kept on purpose, this is the faithful seed): interpolating codes gives cross-fades with
ghosts, not motion. Choices where the original is unknown: no normalisation layers (small batches;
spectral norm in the refiner), no dropout in the U-Net, the refiner predicts a residual (tanh) over the
stage-1 frame rather than the whole frame, so stage 2 starts close to stage 1.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from framegen.core.models.blocks import LEAK, DownBlock, ResidualBlock, SkipLayerExcitation, UpBlock, sn


class MipalConfig(BaseModel):
    """Generator sizes. The defaults are the faithful model; `width` scales every channel count
    (e.g. width = 0.25 and refiner_depth = 5 for quick CPU runs)."""

    model_config = ConfigDict(extra="forbid")

    width: float = Field(1.0, gt=0, le=4)
    base_channels: int = Field(32, ge=1)  # encoder/decoder channels at full resolution (x width)
    code_channels: int = Field(128, ge=1)  # channels of the 1/8-resolution code (x width)
    refiner_channels: int = Field(64, ge=1)  # pix2pix `ngf` (x width)
    refiner_depth: int = Field(8, ge=2, le=8)  # pix2pix `num_downs`: 8 is unet_256 (256 px -> 1 px)


def _scaled(channels: int, width: float) -> int:
    return max(4, round(channels * width))


class Encoder(nn.Module):
    """(N, 3, H, W) in [0, 1] -> code (N, C_code, H/8, W/8)."""

    def __init__(self, c1: int, c2: int, c3: int, code: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(3, c1, 3, padding=1), nn.LeakyReLU(LEAK), ResidualBlock(c1),  # H
            DownBlock(c1, c2), ResidualBlock(c2),  # H/2
            DownBlock(c2, c3), ResidualBlock(c3),  # H/4
            DownBlock(c3, code), ResidualBlock(code),  # H/8
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.layers(images)


class Decoder(nn.Module):
    """Code (N, C_code, H/8, W/8) -> (N, 3, H, W) in [0, 1]; SLE gates 1/2 res by 1/8 and full res by 1/4."""

    def __init__(self, c1: int, c2: int, c3: int, code: int):
        super().__init__()
        self.at_8 = ResidualBlock(code)
        self.to_4 = nn.Sequential(UpBlock(code, c3), ResidualBlock(c3))
        self.to_2 = nn.Sequential(UpBlock(c3, c2), ResidualBlock(c2))
        self.to_1 = nn.Sequential(UpBlock(c2, c1), ResidualBlock(c1))
        self.sle_2 = SkipLayerExcitation(code, c2)
        self.sle_1 = SkipLayerExcitation(c3, c1)
        self.to_rgb = nn.Conv2d(c1, 3, 3, padding=1)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        f8 = self.at_8(code)
        f4 = self.to_4(f8)
        f2 = self.sle_2(self.to_2(f4), f8)
        f1 = self.sle_1(self.to_1(f2), f4)
        return torch.sigmoid(self.to_rgb(f1))


class UNetRefiner(nn.Module):
    """pix2pix U-Net (`num_downs` = depth) with spectral norm and nearest + 3x3 conv up-sampling.

    (N, in_channels, H, W) -> correction (N, 3, H, W) in [-1, 1]; H, W multiples of 2**depth.
    Channels per level as in pix2pix: ngf, 2ngf, 4ngf, 8ngf, 8ngf, ...
    """

    def __init__(self, in_channels: int, ngf: int, depth: int):
        super().__init__()
        channels = [ngf * min(2**level, 8) for level in range(depth)]
        self.downs = nn.ModuleList(
            sn(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1))
            for c_in, c_out in zip([in_channels, *channels[:-1]], channels)
        )
        # Up path, innermost first: level i maps to channels[i - 1] (the output at level 0), and every
        # level but the innermost reads its input concatenated with the skip of the same resolution.
        self.ups = nn.ModuleList()
        for level in reversed(range(depth)):
            c_in = channels[level] * (1 if level == depth - 1 else 2)
            c_out = channels[level - 1] if level > 0 else 3
            self.ups.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                          sn(nn.Conv2d(c_in, c_out, 3, padding=1))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level, down in enumerate(self.downs):
            x = down(x if level == 0 else nn.functional.leaky_relu(x, LEAK))
            skips.append(x)
        x = skips.pop()
        for up in self.ups:
            x = up(torch.relu(x))
            if skips:
                x = torch.cat([skips.pop(), x], dim=1)
        return torch.tanh(x)


class MipalGenerator(nn.Module):
    """forward(frame0, frame1, times) -> frames; see framegen/core/models/registry.py for the contract."""

    def __init__(self, config: MipalConfig):
        super().__init__()
        w = config.width
        c1, c2 = _scaled(config.base_channels, w), _scaled(2 * config.base_channels, w)
        c3, code = _scaled(4 * config.base_channels, w), _scaled(config.code_channels, w)
        self.encoder = Encoder(c1, c2, c3, code)
        self.decoder = Decoder(c1, c2, c3, code)
        self.refiner = UNetRefiner(9, _scaled(config.refiner_channels, w), config.refiner_depth)
        self.size_multiple = max(8, 2**config.refiner_depth)

    def forward(
        self,
        frame0: torch.Tensor,
        frame1: torch.Tensor,
        times: torch.Tensor,
        targets: torch.Tensor | None = None,
        intermediates: bool = False,
    ) -> torch.Tensor | dict[str, torch.Tensor]:
        """frame0, frame1: (B, 3, H, W) in [0, 1]; times: (B, K) in [0, 1] -> (B, K, 3, H, W) in [0, 1].

        Training (`intermediates=True`) returns what `MipalLoss` reads: frames, stage1, codes (the
        interpolated codes) and, when `targets` (B, K, 3, H, W) are given, target_codes (their codes).
        """
        b, k = times.shape
        code0, code1 = self.encoder(torch.cat([frame0, frame1])).chunk(2)  # (B, C, h, w) each
        t = times.to(code0.dtype).view(b, k, 1, 1, 1)
        codes = code0.unsqueeze(1) + t * (code1 - code0).unsqueeze(1)  # (B, K, C, h, w)
        stage1 = self.decoder(codes.flatten(0, 1))  # (B*K, 3, H, W) in [0, 1]
        ends = torch.cat([frame0, frame1], dim=1).repeat_interleave(k, dim=0)  # (B*K, 6, H, W)
        correction = self.refiner(torch.cat([stage1, ends], dim=1))  # (B*K, 3, H, W) in [-1, 1]
        frames = (stage1 + correction).clamp(0, 1).unflatten(0, (b, k))  # (B, K, 3, H, W) in [0, 1]
        if not intermediates:
            return frames
        outputs = {"frames": frames, "stage1": stage1.unflatten(0, (b, k)), "codes": codes}
        if targets is not None:
            outputs["target_codes"] = self.encoder(targets.flatten(0, 1)).unflatten(0, (b, k))
        return outputs
