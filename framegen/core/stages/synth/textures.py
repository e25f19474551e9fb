"""Textures for synthetic scenes: real images (`--textures`: a folder of images or a dataset's frames),
procedural noise, gradients, stripes and checkers, and random colours."""

from __future__ import annotations

import colorsys
from pathlib import Path

import cv2
import numpy as np

from framegen.core.errors import InputError
from framegen.core.formats.dataset import open_split
from framegen.core.manifest import MANIFEST_NAME
from framegen.core.media.convert import uint8_to_float
from framegen.core.media.images import read_image

MAX_TEXTURES = 128  # images kept in memory from --textures (evenly spread over the sorted list)
TEXTURE_SIDE = 512  # their longest side after downscaling
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


def load_textures(folder: Path) -> list[np.ndarray]:
    """Up to MAX_TEXTURES images as uint8 (h, w, 3) RGB, longest side <= TEXTURE_SIDE, in a fixed order.

    `folder` is a folder of PNG/JPEG/WebP images (searched recursively) or a framegen dataset folder, whose
    window frames are used.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such textures folder")
    if (folder / MANIFEST_NAME).exists():
        return _dataset_textures(folder)
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise InputError(f"{folder}: no PNG, JPEG or WebP images found (searched subfolders too)")
    return [_shrink(_opaque(read_image(path))) for path in _spread(files, MAX_TEXTURES)]


def _dataset_textures(folder: Path) -> list[np.ndarray]:
    """The first frame of windows spread over a dataset's splits."""
    frames = []
    for split in ("train", "val"):
        _, array = open_split(folder, split)  # uint8 (N, T, H, W, 3), memory-mapped
        frames += [array[i, 0] for i in range(len(array))]
    if not frames:
        raise InputError(f"{folder}: dataset holds no windows to use as textures")
    return [_shrink(np.array(frame)) for frame in _spread(frames, MAX_TEXTURES)]


def _opaque(image: np.ndarray) -> np.ndarray:
    """uint8 RGB; an RGBA image (a sprite) is laid over mid-grey."""
    if image.shape[2] == 3:
        return image
    alpha = uint8_to_float(image[..., 3:])  # (h, w, 1) in [0, 1]
    return (image[..., :3] * alpha + 128 * (1 - alpha) + 0.5).astype(np.uint8)


def _spread(items: list, count: int) -> list:
    """At most `count` items, evenly spread over the list."""
    if len(items) <= count:
        return items
    return [items[i * len(items) // count] for i in range(count)]


def _shrink(image: np.ndarray) -> np.ndarray:
    scale = TEXTURE_SIDE / max(image.shape[:2])
    if scale >= 1:
        return np.ascontiguousarray(image)
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def random_crop(rng: np.random.Generator, image: np.ndarray, side: int) -> np.ndarray:
    """A random square crop of `image` resized to uint8 (side, side, 3), magnified as little as it can be."""
    h, w = image.shape[:2]
    crop = max(1, int(min(h, w) * rng.uniform(min(max(0.3, side / min(h, w)), 1.0), 1.0)))
    top, left = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
    patch = image[top : top + crop, left : left + crop]
    interpolation = cv2.INTER_AREA if crop > side else cv2.INTER_LINEAR
    return cv2.resize(patch, (side, side), interpolation=interpolation)


def random_colour(rng: np.random.Generator, saturation=(0.35, 1.0), value=(0.45, 1.0)) -> np.ndarray:
    """A random RGB colour, float (3,) in [0, 255]."""
    rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*saturation), rng.uniform(*value))
    return np.array(rgb, np.float32) * 255


def procedural_texture(rng: np.random.Generator, side: int, weights=(0.25, 0.25, 0.25, 0.25)) -> np.ndarray:
    """A procedural texture: uint8 (side, side, 3) of noise, a gradient, stripes or a checker (`weights`)."""
    kind = rng.choice(["noise", "gradient", "stripes", "checker"], p=weights)
    if kind == "noise":  # value noise: octaves of random grids summed at 64 px, then upsampled
        pattern = np.zeros((64, 64), np.float32)
        for octave in range(1, 5):
            grid = rng.random((2**octave + 1,) * 2, dtype=np.float32)
            pattern += cv2.resize(grid, (64, 64), interpolation=cv2.INTER_CUBIC) * 0.5**octave
        pattern = cv2.resize(pattern, (side, side), interpolation=cv2.INTER_CUBIC)
    else:
        angle = rng.uniform(0, np.pi)
        ramp = np.linspace(0, 1, side, dtype=np.float32)
        along = ramp[None, :] * np.float32(np.cos(angle)) + ramp[:, None] * np.float32(np.sin(angle))
        if kind == "gradient":
            pattern = along
        else:
            frequency = np.float32(rng.uniform(3, 12) * np.pi)
            pattern = np.sin(along * frequency)
            if kind == "checker":
                across = ramp[:, None] * np.float32(np.cos(angle)) - ramp[None, :] * np.float32(np.sin(angle))
                pattern *= np.sin(across * frequency)
            pattern = np.clip(pattern * np.float32(rng.uniform(1, 6)), -1, 1)  # soft waves to hard stripes
    low, high = float(pattern.min()), float(pattern.max())
    pattern = (pattern - low) * np.float32(1 / max(high - low, 1e-6))  # float32 (side, side) in [0, 1]
    dark, bright = random_colour(rng), random_colour(rng)
    return cv2.merge([cv2.convertScaleAbs(pattern, alpha=b - a, beta=a) for a, b in zip(dark, bright)])
