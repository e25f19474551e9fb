"""`--arch motion`: a motion-aware interpolator that corrects optical flow coarse to fine.

Why this design (issue 7): the seed's encoder-decoder lerps latent codes and so learns a cross-fade; a
refiner over a fixed flow cannot repair wrong flow, and most of classical flow's error is wrong flow on
large motion. So this network owns the motion: it starts from the `flow` engine's motion field at time t
(DIS flow both ways, candidates chosen by bilateral matching; see engines/flow.py) and predicts residual
corrections of the two intermediate flows F_t->0 and F_t->1 and of a blend (occlusion) mask, coarse to
fine at 1/8, 1/4 and 1/2 resolution (RIFE/IFRNet-style flow blocks); then a small U-Net whose decoder is gated
by Skip-Layer Excitation (the seed's SLE idea) adds a residual to the blended frame. Every output layer is
zero-initialised: an untrained network reproduces the `flow` engine's frames, and training moves it from
there. Conditioned on t, so any number of in-betweens works. Training adds teacher flows that see the real
in-between (`teacher_flows`, read by losses.MotionLoss).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict

from framegen.core.dataset import to_float
from framegen.core.engines.flow import FlowEngine, working_gray


class MotionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    width: int = 48  # channels of the flow blocks (where the error is: wrong motion)
    flow_scales: tuple[int, ...] = (8, 4, 2)  # resolutions (as divisors) at which the flow is corrected
    refiner_width: int = 16  # channels of the SLE U-Net residual refiner's first level; 0 = no refiner


def backward_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample `image` (B, C, H, W) at x + flow; flow (B, 2, H, W) in pixels, (dx, dy)."""
    b, _, h, w = image.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, device=image.device, dtype=image.dtype),
        torch.arange(w, device=image.device, dtype=image.dtype),
        indexing="ij",
    )
    x = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    y = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack((x, y), dim=-1)  # (B, H, W, 2) in [-1, 1]
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def conv(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1), nn.PReLU(out_channels))


def zero_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    layer = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class FlowBlock(nn.Module):
    """One coarse-to-fine step: from the images, the current warps, flows and mask, predict residuals.

    Input (at this block's resolution): I0, I1, warped I0, warped I1 (12), F_t->0, F_t->1 (4), mask logit
    (1), t (1) = 18 channels. Output: residual flows (4) and residual mask logit (1).
    """

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            conv(18, width, stride=2), conv(width, width), conv(width, width), conv(width, width)
        )
        self.head = zero_conv(width, 5 * 4)  # predicted at half resolution, pixel-shuffled back up
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.shuffle(self.head(self.body(features)))  # (B, 5, h, w)
        return out[:, :4], out[:, 4:5]


class SLEGate(nn.Module):
    """Skip-Layer Excitation (FastGAN): a low-resolution map gates the channels of a high-resolution one."""

    def __init__(self, low_channels: int, high_channels: int):
        super().__init__()
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(4),
            nn.Conv2d(low_channels, high_channels, 4),
            nn.LeakyReLU(0.1),
            nn.Conv2d(high_channels, high_channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        return high * self.gate(low)


class Refiner(nn.Module):
    """A U-Net at 1/2, 1/4 and 1/8 resolution (pixel-unshuffled input, pixel-shuffled output) that adds a
    residual to the blended frame; its decoder is gated by SLE from the coarsest level."""

    def __init__(self, width: int):
        super().__init__()
        # input: blended frame, both warps, both inputs (15), mask (1), t (1) = 17 channels, unshuffled x4
        self.unshuffle = nn.PixelUnshuffle(2)
        self.down1 = nn.Sequential(conv(17 * 4, width), conv(width, width))
        self.down2 = nn.Sequential(conv(width, 2 * width, stride=2), conv(2 * width, 2 * width))
        self.down3 = nn.Sequential(conv(2 * width, 4 * width, stride=2), conv(4 * width, 4 * width))
        self.up2 = conv(4 * width + 2 * width, 2 * width)
        self.up1 = conv(2 * width + width, width)
        self.sle = SLEGate(4 * width, width)
        self.head = zero_conv(width, 3 * 4)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        d1 = self.down1(self.unshuffle(features))  # (N, w, H/2, W/2)
        d2 = self.down2(d1)  # (N, 2w, H/4, W/4)
        d3 = self.down3(d2)  # (N, 4w, H/8, W/8)
        u2 = self.up2(torch.cat([F.interpolate(d3, scale_factor=2, mode="nearest"), d2], 1))
        u1 = self.up1(torch.cat([F.interpolate(u2, scale_factor=2, mode="nearest"), d1], 1))
        return self.shuffle(self.head(self.sle(u1, d3)))  # (N, 3, H, W) residual


class MotionInterpolator(nn.Module):
    """forward(frame0, frame1, times) -> (B, K, 3, H, W) in [0, 1] (the generator contract, registry.py)."""

    def __init__(self, config: MotionConfig | None = None):
        super().__init__()
        self.config = config or MotionConfig()
        self.flow_blocks = nn.ModuleList(FlowBlock(self.config.width) for _ in self.config.flow_scales)
        self.refiner = Refiner(self.config.refiner_width) if self.config.refiner_width else None
        # the sides must divide by the strided convs: 1/8 in the refiner, 1/(2 x coarsest scale) in the flow blocks
        self.size_multiple = max(8, 2 * max(self.config.flow_scales))

    def forward(
        self,
        frame0: torch.Tensor,  # (B, 3, H, W) float in [0, 1]
        frame1: torch.Tensor,  # (B, 3, H, W) float in [0, 1]
        times: torch.Tensor,  # (B, K) float in [0, 1]
        targets: torch.Tensor | None = None,  # unused: the loss reads only the frames
        intermediates: bool = False,
        motion: torch.Tensor | None = None,  # (B, K, 2, H, W) px: flow_engine_motion, when the loader made it
    ):
        b, k = times.shape
        if motion is None:
            motion = flow_engine_motion(frame0, frame1, times)  # (B, K, 2, H, W) px, frame 0 -> 1
        motion = motion.to(frame0.dtype)
        # Fold the K times into the batch: every time is an independent warp of the same pair.
        frames, flows = self.interpolate(
            frame0.repeat_interleave(k, 0),
            frame1.repeat_interleave(k, 0),
            motion.flatten(0, 1),
            times.reshape(b * k, 1, 1, 1).to(frame0.dtype),
        )
        frames = frames.reshape(b, k, *frame0.shape[1:])
        return {"frames": frames, "flows": flows.reshape(b, k, 4, *frame0.shape[2:])} if intermediates else frames

    def interpolate(self, frame0, frame1, motion, t) -> tuple[torch.Tensor, torch.Tensor]:
        """frame0, frame1 (N, 3, H, W); motion (N, 2, H, W) px; t (N, 1, 1, 1) ->
        frames (N, 3, H, W) in [0, 1], their flows F_t->0, F_t->1 (N, 4, H, W) px."""
        flow_t = torch.cat([-t * motion, (1 - t) * motion], 1)  # (N, 4, H, W): F_t->0, F_t->1 in px
        weight0 = (1 - t).clamp(1e-4, 1 - 1e-4)
        mask_logit = torch.log(weight0 / (1 - weight0)).expand(-1, 1, *frame0.shape[-2:])  # frame 0's weight
        for scale, block in zip(self.config.flow_scales, self.flow_blocks):
            size = (frame0.shape[-2] // scale, frame0.shape[-1] // scale)
            small = [F.interpolate(x, size=size, mode="bilinear", align_corners=False) for x in (frame0, frame1)]
            small_flow = F.interpolate(flow_t, size=size, mode="bilinear", align_corners=False) / scale
            small_mask = F.interpolate(mask_logit, size=size, mode="bilinear", align_corners=False)
            warped = [backward_warp(small[0], small_flow[:, :2]), backward_warp(small[1], small_flow[:, 2:])]
            features = torch.cat([*small, *warped, small_flow, small_mask, t.expand(-1, 1, *size)], 1)
            delta_flow, delta_mask = block(features)
            upsampled = F.interpolate(torch.cat([delta_flow * scale, delta_mask], 1), scale_factor=scale,
                                      mode="bilinear", align_corners=False)  # (N, 5, H, W): px at full size
            flow_t = flow_t + upsampled[:, :4]
            mask_logit = mask_logit + upsampled[:, 4:]
        warped0 = backward_warp(frame0, flow_t[:, :2])
        warped1 = backward_warp(frame1, flow_t[:, 2:])
        mask = torch.sigmoid(mask_logit)
        blended = mask * warped0 + (1 - mask) * warped1  # (N, 3, H, W) in [0, 1]
        if self.refiner is None:
            return blended, flow_t
        features = torch.cat([blended, warped0, warped1, frame0, frame1, mask, t.expand_as(mask)], 1)
        return (blended + self.refiner(features)).clamp(0, 1), flow_t


@torch.no_grad()
def flow_engine_motion(frame0: torch.Tensor, frame1: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    """The `flow` engine's motion field for each pair and time: (B, K, 2, H, W) px (0 -> 1 displacement)."""
    images0, images1 = numpy_images(frame0), numpy_images(frame1)  # (B, H, W, 3) float32 in [0, 1]

    def pair_motion(index: int) -> np.ndarray:
        return np.stack(FlowEngine().motions(images0[index], images1[index], times[index].tolist()))  # (K, H, W, 2)

    fields = np.stack(in_threads(pair_motion, len(images0)))  # (B, K, H, W, 2)
    return torch.from_numpy(fields).permute(0, 1, 4, 2, 3).to(frame0.device, frame0.dtype)


@torch.no_grad()
def teacher_flows(window: torch.Tensor) -> torch.Tensor:
    """Privileged flows for training (RIFE's / IFRNet's distillation idea, with DIS as the teacher): for every
    in-between I_t of the window, DIS flow from I_t to the first and to the last frame, i.e. the F_t->0 and
    F_t->1 that the model should find without seeing I_t. Measured on the movie's held-out shots, warping
    with them gives 34.1 dB where the `flow` engine gives 27.0: the motion is where the error is.

    window (B, T, 3, H, W) in [0, 1] -> (B, T - 2, 4, H, W) px.
    """
    b, t = window.shape[:2]
    grays = [working_gray(image, image.shape[1::-1]) for image in numpy_images(window.flatten(0, 1))]

    def window_flows(index: int) -> np.ndarray:
        engine, frames = FlowEngine(), grays[index * t : (index + 1) * t]
        return np.stack([
            np.concatenate([engine.flow(middle, frames[0]), engine.flow(middle, frames[-1])], axis=-1)
            for middle in frames[1:-1]
        ])  # (T - 2, H, W, 4)

    flows = np.stack(in_threads(window_flows, b))  # (B, T - 2, H, W, 4)
    return torch.from_numpy(flows).permute(0, 1, 4, 2, 3).to(window.device)


def training_inputs(window: torch.Tensor, times: torch.Tensor) -> tuple[dict, dict]:
    """What a training step needs besides the window, made in the loader's worker processes (so a GPU step
    does not wait for this CPU work, and the processes share no lock): the model's starting motion and the
    loss's teacher flows. window uint8 (T, 3, H, W), times (T,) -> ({"motion": (T, 2, H, W)} for the model,
    {"teacher": (T - 2, 4, H, W)} for the loss), px."""
    frames = to_float(window[None])  # (1, T, 3, H, W) in [0, 1]
    motion = flow_engine_motion(frames[:, 0], frames[:, -1], times[None])[0]
    return {"motion": motion}, {"teacher": teacher_flows(frames)[0]}


def numpy_images(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) tensor in [0, 1] -> (N, H, W, 3) float32 numpy array."""
    return images.detach().float().permute(0, 2, 3, 1).cpu().numpy()


def in_threads(function, count: int) -> list:
    """[function(0), ..., function(count - 1)] in threads (OpenCV's DIS and remaps release the GIL): the pairs
    of a batch at inference."""
    with ThreadPoolExecutor(max(1, min(count, os.cpu_count() or 1))) as pool:
        return list(pool.map(function, range(count)))


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
