"""The `model` engine: an exported trained generator (framegen.core.checkpoint.load_exported).

Any input size (FILM's `eval/interpolator.py` approach):
- the image is padded (reflect) up to the generator's `size_multiple` and the result cropped back;
- an image larger than TILE_SIDE x TILE_SIDE is cut into overlapping tiles of at most that size (a
  multiple of `size_multiple`), each tile is interpolated on its own, and the tiles are put back with
  linear ramps across their OVERLAP-pixel overlaps, so no seams show. Memory then depends on the tile
  size, not on the image size: a 3840x2160 pair stays well under 4 GB.

RGBA: the generator sees 3 channels, so the premultiplied colour and the alpha channel (as a grey image)
go through it as a batch of two. The same network sees the same motion in both, but nothing forces
exactly the same warp: where that matters, the `flow` engine moves alpha with the very same flow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from framegen.core.checkpoint import ExportedModelInfo, load_exported
from framegen.core.engines import Engine

TILE_SIDE = 1024  # px, largest tile side (rounded down to the generator's size_multiple, at least one multiple)
OVERLAP = 64  # px of overlap between neighbouring tiles


class ModelEngine(Engine):
    name = "model"

    def __init__(self, generator: torch.nn.Module, info: ExportedModelInfo | None = None,
                 tile_side: int = TILE_SIDE, overlap: int = OVERLAP):
        self.generator = generator.eval()
        self.info = info
        self.multiple = int(generator.size_multiple)
        self.tile_side = max(self.multiple, tile_side // self.multiple * self.multiple)
        self.overlap = overlap

    @classmethod
    def load(cls, path: Path) -> ModelEngine:
        generator, info = load_exported(Path(path))
        return cls(generator, info)

    def interpolate_float(self, image0: np.ndarray, image1: np.ndarray, times: list[float]) -> list[np.ndarray]:
        channels = image0.shape[2]
        batch0, batch1 = to_batch(image0), to_batch(image1)  # (B, 3, H, W) in [0, 1], B = 1 RGB, 2 RGBA
        with torch.inference_mode():
            frames = self.tiled(batch0, batch1, times)  # (B, K, 3, H, W) in [0, 1]
        return [from_batch(frames[:, k], channels) for k in range(len(times))]

    def tiled(self, frame0: torch.Tensor, frame1: torch.Tensor, times: list[float]) -> torch.Tensor:
        """Run the generator over overlapping tiles and blend them: (B, 3, H, W) x2 -> (B, K, 3, H, W)."""
        b, _, h, w = frame0.shape
        k = len(times)
        rows, cols = tile_starts(h, self.tile_side, self.overlap), tile_starts(w, self.tile_side, self.overlap)
        if len(rows) == 1 and len(cols) == 1:
            return self.padded(frame0, frame1, times)
        out = torch.zeros(b, k, 3, h, w)
        total = torch.zeros(h, w)
        for top in rows:
            for left in cols:
                tile = (slice(top, top + self.tile_side), slice(left, left + self.tile_side))
                result = self.padded(frame0[..., tile[0], tile[1]], frame1[..., tile[0], tile[1]], times)
                weight = ramp_window(result.shape[-2:], self.overlap, top > 0, top + self.tile_side < h,
                                     left > 0, left + self.tile_side < w)
                out[..., tile[0], tile[1]] += result * weight
                total[tile] += weight
        return out / total

    def padded(self, frame0: torch.Tensor, frame1: torch.Tensor, times: list[float]) -> torch.Tensor:
        """Pad (B, 3, h, w) up to the generator's multiple, run it, crop back: -> (B, K, 3, h, w)."""
        b, _, h, w = frame0.shape
        pad_h, pad_w = -h % self.multiple, -w % self.multiple
        if pad_h or pad_w:
            # reflect needs the pad to be smaller than the side; tiny images fall back to replicate
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            frame0 = F.pad(frame0, (0, pad_w, 0, pad_h), mode=mode)
            frame1 = F.pad(frame1, (0, pad_w, 0, pad_h), mode=mode)
        t = torch.tensor(times, dtype=frame0.dtype).expand(b, -1)  # (B, K) in (0, 1)
        frames = self.generator(frame0, frame1, t)  # (B, K, 3, h', w') in [0, 1]
        return frames[..., :h, :w].clamp(0.0, 1.0)


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


def to_batch(image: np.ndarray) -> torch.Tensor:
    """float32 (H, W, 3|4) -> (B, 3, H, W): the RGB image, plus the alpha channel as grey when there is one."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)  # (C, H, W)
    if x.shape[0] == 3:
        return x[None]
    return torch.stack([x[:3], x[3:].expand(3, -1, -1)])


def from_batch(frames: torch.Tensor, channels: int) -> np.ndarray:
    """(B, 3, H, W) -> float32 (H, W, channels): the inverse of to_batch (alpha = the grey image's mean)."""
    rgb = frames[0]
    if channels == 4:
        rgb = torch.cat([rgb, frames[1].mean(dim=0, keepdim=True)])
    return rgb.permute(1, 2, 0).numpy()
