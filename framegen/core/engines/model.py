"""The `model` engine: an exported network (framegen.core.models.export.load_exported): a trained generator
or installed published RIFE weights (models/store.py).

Any input size (FILM's `eval/interpolator.py` approach):
- the image is padded (reflect) up to the generator's `size_multiple` and the result cropped back
  (models.registry.interpolate_padded, which training uses too);
- an image larger than TILE_SIDE x TILE_SIDE is cut into overlapping tiles of at most that size (a
  multiple of `size_multiple`), each tile is interpolated on its own, and the tiles are put back with
  linear ramps across their OVERLAP-pixel overlaps, so no seams show;
- the generator is given at most PIXEL_TIMES (ARCH_PIXEL_TIMES for RIFE) pixels x in-betweens per call
  (whole small images with all their times at once; big tiles a few times at a time; rife3hd all its
  times at once, UNSPLIT_TIMES).
Memory then depends on the tile size, not on the image size. Measured with the default `mipal`
generator (the largest in the registry): one call on 512x512 x 2 times peaks 0.8 GB above the loaded
model; a 3840x2160 pair in 1024 px tiles with all 6 times per call went past 9.6 GB. See the README for
the 3840x2160 measurement with these limits.

RIFE on large frames: tiles, not the upstream `scale` 0.5. Measured on six pairs of the sample movie's
held-out shots upscaled to 1920x1080 (frames 0, 2 -> 1 and 0, 6 -> 3 of three windows, t = 1/2, rife4):
the whole frame at scale 1 scored 33.34 dB PSNR (peak 2.3 GB RSS), 768 px tiles with 64 px overlaps
33.35 dB (1.3 GB), the whole frame at scale 0.5 32.49 dB (1.8 GB). So RIFE keeps TILE_SIDE; the tiles
still hold enough context for the motions of these pairs (4x those of the 480x270 movie).

Ensemble (`ensemble`, `--ensemble`): each frame is the mean of three passes, as given, on the frames
mirrored left-right (mirrored back), and with the two frames swapped at 1 - t; three times the time.

Device: CUDA when there is one (`device="auto"`), else the CPU; `cpu` or `cuda` to choose. The frames go to
the device once per pair and come back per in-between.

RGBA: the generator sees 3 channels, so the premultiplied colour and the alpha channel (as a grey image)
go through it as a batch of two. The same network sees the same motion in both, but nothing forces
exactly the same warp: where that matters, the `flow` engine moves alpha with the very same flow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from framegen.core.engines.base import Engine
from framegen.core.media.convert import batch_to_image, image_to_batch
from framegen.core.models.device import pick_device
from framegen.core.models.export import ExportedModelInfo, load_exported
from framegen.core.models.registry import interpolate_padded

TILE_SIDE = 768  # px, largest tile side (rounded down to the generator's size_multiple, at least one multiple)
OVERLAP = 64  # px of overlap between neighbouring tiles
PIXEL_TIMES = 512 * 512 * 2  # pixels x in-betweens per generator call (at least one in-between)
# The RIFE networks need less memory per pixel x in-between than mipal (rife4 at scale 1: about 0.7 KB;
# 512x512 x 6 times peaked 1.1 GB above the loaded model), so a call may hold more: all six in-betweens
# of a 512x512 tile in one pass, the t-independent part (features, coarsest inputs) made once.
ARCH_PIXEL_TIMES = {"rife4": 2**21}
# rife3hd shares the bisection midpoints between all the times of one call: its times are never split
# (memory grows with the widest bisection level, bounded by its tiles: 1.6 GB for six k/7 at 512x512).
UNSPLIT_TIMES = ("rife3hd",)
# Memory budget (engines/base.py): at most this many times per call (rife3hd's finest bisection level holds
# 31 midpoints, so it shares all it can), the full-frame float result of a call at most OUTPUT_BUFFER bytes,
# and, for a budget (fit_memory), tiles down to MIN_TILE_SIDE. Bytes per tile pixel x time of one call, from
# the peaks above (mipal 0.8 GB for 512x512 x 2; rife4 0.7 KB; rife3hd 1.6 GB for six k/7 at 512x512).
MAX_TIMES_PER_CALL = 32
OUTPUT_BUFFER = 256 * 2**20
MIN_TILE_SIDE = 128
BYTES_PER_PIXEL_TIME = 1536
ARCH_BYTES_PER_PIXEL_TIME = {"rife4": 720, "rife3hd": 1024}


class ModelEngine(Engine):
    name = "model"

    def __init__(self, generator: torch.nn.Module, info: ExportedModelInfo | None = None,
                 tile_side: int = TILE_SIDE, overlap: int = OVERLAP, device: str = "auto"):
        self.device = pick_device(device)  # UsageError for `cuda` without one
        self.generator = generator.eval().to(self.device)
        self.info = info
        self.multiple = int(generator.size_multiple)
        self.tile_side = max(self.multiple, tile_side // self.multiple * self.multiple)
        self.overlap = overlap
        self.pixel_times: int | None = None  # tile pixels x times per call: None = the arch's own (fit_memory)
        self.ensemble = False  # average three passes per frame (`padded`): about 3x the time

    @classmethod
    def load(cls, path: Path, device: str = "auto") -> ModelEngine:
        """An exported network as an engine that owns it: its weights go channels-last (oneDNN's and
        cuDNN's fast layout; same frames to a grey level). Measured on the 2-core CPU, 6 in-betweens of a
        256x256 pair: rife4 0.94x the time, rife3hd 0.85x, the small mipal 0.63x. A generator being trained
        (validation's engines) is left as it is."""
        generator, info = load_exported(Path(path))
        return cls(generator.to(memory_format=torch.channels_last), info, device=device)

    def interpolate_float(self, image0: np.ndarray, image1: np.ndarray, times: list[float]) -> Iterator[np.ndarray]:
        channels = image0.shape[2]
        # (B, 3, H, W) in [0, 1] on the device, B = 1 for RGB, 2 for RGBA
        batch0, batch1 = (image_to_batch(image).to(self.device) for image in (image0, image1))
        h, w = image0.shape[:2]
        b = batch0.shape[0]
        per_call = self.times_per_call(min(h, self.tile_side) * min(w, self.tile_side) * b, len(times), h * w * b)
        for start in range(0, len(times), per_call):
            chunk = times[start:start + per_call]
            with torch.inference_mode():  # not held across the yields: the caller's code runs between them
                result = self.tiled(batch0, batch1, chunk)  # (B, k, 3, H, W) in [0, 1]
                frames = [batch_to_image(result[:, k], channels) for k in range(len(chunk))]
            del result
            yield from frames

    def times_per_call(self, tile_pixels: int, count: int, frame_pixels: int) -> int:
        """How many of `count` in-betweens one generator call makes on a tile of `tile_pixels` (x batch), for
        frames of `frame_pixels` (x batch): the call's own limit (or the budget's, `pixel_times`, once
        fit_memory set one), MAX_TIMES_PER_CALL, and OUTPUT_BUFFER."""
        arch = self.info.arch if self.info is not None else None
        if self.pixel_times is None and arch in UNSPLIT_TIMES:
            by_tile = count
        else:
            by_tile = max(1, (self.pixel_times or ARCH_PIXEL_TIMES.get(arch, PIXEL_TIMES)) // tile_pixels)
        by_output = max(1, OUTPUT_BUFFER // (frame_pixels * 3 * 4))  # the (B, k, 3, H, W) float32 result
        return min(count, by_tile, by_output, MAX_TIMES_PER_CALL)

    def memory_needed(self, height: int, width: int, channels: int) -> int:
        """Working memory beyond the loaded model: one generator call on a tile, and the full-frame buffers
        (the float pair, its batches, a call's result and blend weights, one frame's conversion)."""
        b = 2 if channels == 4 else 1
        pixels = height * width
        tile_pixels = min(height, self.tile_side) * min(width, self.tile_side) * b
        k = self.times_per_call(tile_pixels, MAX_TIMES_PER_CALL, pixels * b)
        arch = self.info.arch if self.info is not None else None
        call = tile_pixels * k * ARCH_BYTES_PER_PIXEL_TIME.get(arch, BYTES_PER_PIXEL_TIME)
        return call + pixels * (24 * channels + b * (24 + 24 * k + 4))

    def fit_memory(self, height: int, width: int, channels: int, budget: int) -> int:
        """Tile sooner until the estimate fits `budget`: halve the tile side (down to MIN_TILE_SIDE), one
        in-between per call."""
        b = 2 if channels == 4 else 1
        while self.memory_needed(height, width, channels) > budget and self.tile_side > MIN_TILE_SIDE:
            self.tile_side = max(MIN_TILE_SIDE, self.tile_side // 2 // self.multiple * self.multiple)
            self.pixel_times = self.tile_side**2 * b
        return self.memory_needed(height, width, channels)

    def tiled(self, frame0: torch.Tensor, frame1: torch.Tensor, times: list[float]) -> torch.Tensor:
        """Run the generator over overlapping tiles and blend them: (B, 3, H, W) x2 -> (B, K, 3, H, W)."""
        b, _, h, w = frame0.shape
        k = len(times)
        rows, cols = tile_starts(h, self.tile_side, self.overlap), tile_starts(w, self.tile_side, self.overlap)
        if len(rows) == 1 and len(cols) == 1:
            return self.padded(frame0, frame1, times)
        out = torch.zeros(b, k, 3, h, w, device=frame0.device)
        total = torch.zeros(h, w, device=frame0.device)
        for top in rows:
            for left in cols:
                tile = (slice(top, top + self.tile_side), slice(left, left + self.tile_side))
                result = self.padded(frame0[..., tile[0], tile[1]], frame1[..., tile[0], tile[1]], times)
                weight = ramp_window(result.shape[-2:], self.overlap, top > 0, top + self.tile_side < h,
                                     left > 0, left + self.tile_side < w).to(frame0.device)
                out[..., tile[0], tile[1]] += result * weight
                total[tile] += weight
        return out / total

    def padded(self, frame0: torch.Tensor, frame1: torch.Tensor, times: list[float]) -> torch.Tensor:
        """Run the generator on (B, 3, h, w) frames of any size (padded to its multiple): (B, K, 3, h, w);
        with `ensemble`, the mean of that pass, a pass on the mirrored frames and a time-reversed pass."""
        t = torch.tensor(times, dtype=frame0.dtype, device=frame0.device).expand(frame0.shape[0], -1)  # (B, K)
        frames = interpolate_padded(self.generator, frame0, frame1, t)
        if self.ensemble:
            mirrored = interpolate_padded(self.generator, frame0.flip(-1), frame1.flip(-1), t).flip(-1)
            reversed_ = interpolate_padded(self.generator, frame1, frame0, 1.0 - t)
            frames = (frames + mirrored + reversed_) / 3
        return frames.clamp(0.0, 1.0)


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of side `tile` covering [0, size), neighbours overlapping by >= `overlap`."""
    if size <= tile:
        return [0]
    step = tile - overlap
    count = -(-(size - tile) // step) + 1  # ceil
    return [round(i * (size - tile) / (count - 1)) for i in range(count)]


def ramp_window(shape: tuple[int, int], overlap: int, top: bool, bottom: bool, left: bool,
                right: bool) -> torch.Tensor:
    """(h, w) weights: 1 inside, a linear ramp over `overlap` px on the sides that touch another tile."""
    h, w = shape

    def ramp(n: int, start: bool, end: bool) -> torch.Tensor:
        r = torch.ones(n)
        steps = torch.arange(1, overlap + 1, dtype=torch.float32) / (overlap + 1)
        m = min(overlap, n)
        if start:
            r[:m] = torch.minimum(r[:m], steps[:m])
        if end:
            r[n - m:] = torch.minimum(r[n - m:], steps[:m].flip(0))
        return r

    return ramp(h, top, bottom)[:, None] * ramp(w, left, right)[None, :]
