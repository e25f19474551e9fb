"""Tiny window datasets for the training tests, written with DatasetWriter (no movie needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from conftest import moving_square_frames
from framegen.core.dataset import DatasetManifest, DatasetWriter, WindowInfo

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
    writer.finish(dict(**DatasetManifest.header({"test": True}), kind=kind))
    return folder


def tiny_config(folder: Path, extra: str = "") -> Path:
    """A train.toml with a tiny model (fast on the CPU) plus `extra` lines."""
    path = Path(folder) / "train.toml"
    path.write_text(extra + "\n" + TINY_MODEL)
    return path
