"""Image and tensor conversions: the one place where uint8 pixels become floats in [0, 1] and back.

- Images are uint8 (H, W, C) RGB or RGBA at the I/O boundaries.
- The engines work on float32 (H, W, C) numpy images in [0, 1], RGBA premultiplied (`image_to_float`,
  `image_from_float`); the model engine hands them to a generator as (B, 3, H, W) tensors
  (`image_to_batch`, `batch_to_image`).
- Training and evaluation windows stay uint8 tensors (..., 3, H, W) until they reach the device, where
  `windows_to_float` makes them float in [0, 1]; `images_to_tensor` does the same from uint8 numpy frames.

Two roundings back to uint8, each kept as its callers always had it (changing either moves results by a
grey level where a value falls exactly on a half): `image_from_float` (engine outputs) rounds halves up,
`float_to_uint8` (DIS's grey input) rounds them to even.

No torch at import time: extract, filter, build-dataset and synth import this module and never load torch.
Tensor functions call tensor methods, or import torch inside.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

ALPHA_FLOOR = 1 / 512  # below this alpha a premultiplied colour is noise: the pixel comes back transparent black


def uint8_to_float(image: np.ndarray) -> np.ndarray:
    """uint8 array -> float32 in [0, 1], same shape."""
    return image.astype(np.float32) * np.float32(1 / 255)


def float_to_uint8(x: np.ndarray) -> np.ndarray:
    """float array in [0, 1] -> uint8, same shape: rounded half to even, values outside clipped."""
    return np.clip(np.round(x * 255), 0, 255).astype(np.uint8)


def image_to_float(image: np.ndarray) -> np.ndarray:
    """uint8 RGB(A) (H, W, C) -> float32 (H, W, C) in [0, 1]; RGBA becomes premultiplied RGB + alpha."""
    x = uint8_to_float(image)
    if x.shape[2] == 4:
        x[..., :3] *= x[..., 3:]
    return x


def image_from_float(x: np.ndarray) -> np.ndarray:
    """float32 (H, W, C) in [0, 1] (premultiplied when C = 4) -> uint8 RGB(A), rounded half up."""
    if x.shape[2] == 4:
        alpha = np.clip(x[..., 3:], 0.0, 1.0)
        rgb = np.where(alpha > ALPHA_FLOOR, x[..., :3] / np.maximum(alpha, ALPHA_FLOOR), 0.0)
        x = np.concatenate([rgb, alpha], axis=2)
    return np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)


def windows_to_float(windows: torch.Tensor) -> torch.Tensor:
    """uint8 tensor (..., 3, H, W) -> float32 in [0, 1], on the tensor's device (convert there, after the copy:
    a quarter of the bytes cross the loader and the bus)."""
    return windows.float().div_(255.0)


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 numpy frames (N, H, W, 3) -> float32 tensor (N, 3, H, W) in [0, 1]."""
    import torch

    return windows_to_float(torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2))


def image_to_batch(image: np.ndarray) -> torch.Tensor:
    """float32 (H, W, 3|4) -> (B, 3, H, W): the RGB image, plus the alpha channel as grey when there is one
    (B = 1 for RGB, 2 for RGBA)."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)  # (C, H, W)
    if x.shape[0] == 3:
        return x[None]
    return torch.stack([x[:3], x[3:].expand(3, -1, -1)])


def batch_to_image(frames: torch.Tensor, channels: int) -> np.ndarray:
    """(B, 3, H, W) -> float32 (H, W, channels): the inverse of image_to_batch (alpha = the grey image's mean)."""
    import torch

    rgb = frames[0].cpu()
    if channels == 4:
        rgb = torch.cat([rgb, frames[1].cpu().mean(dim=0, keepdim=True)])
    return rgb.permute(1, 2, 0).numpy()
