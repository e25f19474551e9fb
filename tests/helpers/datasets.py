"""Tiny window datasets for the training tests, written with DatasetWriter (no movie needed), and a train.toml
for a tiny model."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from helpers.media import moving_square_frames

from framegen.core.formats.dataset import DatasetManifest, DatasetWriter, WindowInfo

TINY_MODEL = """
[model]
width = 0.125
refiner_depth = 4

[gan.discriminator]
channels = 8
layers = 2
"""


def make_dataset(folder: Path, train: int = 6, val: int = 2, size: int = 64, length: int = 8,
                 kind: str = "movie", seed: int = 0) -> Path:
    """A dataset of `train` + `val` windows of a textured square moving over a checkerboard."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    frames = moving_square_frames(train + val + length, size=(size, size), seed=seed)
    writer = DatasetWriter(folder, {"train": train, "val": val}, length, size, size)
    for i in range(train + val):
        split = "train" if i < train else "val"
        writer.add(split, np.ascontiguousarray(frames[i : i + length]),
                   WindowInfo(shot=f"{split}-shot", frames=list(range(i, i + length))))
    # the parameters make the manifest, and so the dataset's identity for a resume, differ as the windows do
    parameters = {"test": True, "train": train, "val": val, "size": size, "length": length, "seed": seed}
    writer.finish(dict(**DatasetManifest.header(parameters), kind=kind))
    return folder


def tiny_config(folder: Path, extra: str = "", sample_windows: int = 0) -> Path:
    """A train.toml with a tiny model (fast on the CPU) plus `extra` lines. No sample GIFs unless asked
    for: each costs a model pass and an ffmpeg run per validation, and one test checks them."""
    path = Path(folder) / "train.toml"
    path.write_text(f"sample_windows = {sample_windows}\n{extra}\n{TINY_MODEL}")
    return path


def make_fade_dataset(folder: Path, train: int = 8, val: int = 2, size: int = 64, length: int = 8) -> Path:
    """A dataset of pure brightness fades: a still textured frame whose brightness changes linearly across
    the window (up or down). A cross-fade of the end frames is exact; warping them is not."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    blobs = rng.uniform(0, 255, (train + val, 6, 6, 3)).astype(np.float32)
    stills = [cv2.resize(b, (size, size), interpolation=cv2.INTER_CUBIC) for b in blobs]  # smooth colour blobs
    writer = DatasetWriter(folder, {"train": train, "val": val}, length, size, size)
    for i in range(train + val):
        start, end = rng.permutation([rng.uniform(0.15, 0.4), rng.uniform(0.7, 1.0)])  # a clear fade, up or down
        gains = np.linspace(start, end, length, dtype=np.float32)[:, None, None, None]
        window = np.clip(stills[i] * gains + 0.5, 0, 255).astype(np.uint8)  # (T, H, W, 3)
        split = "train" if i < train else "val"
        writer.add(split, window, WindowInfo(shot=f"{split}-fade", frames=list(range(length))))
    writer.finish(dict(**DatasetManifest.header({"test": True}), kind="movie"))
    return folder
