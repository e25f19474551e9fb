"""Datasets of frame windows: the on-disk format, its writer, and the torch Dataset that reads it.

A dataset folder:
    manifest.json   DatasetManifest (schema framegen/dataset)
    train.npy       uint8 (N_train, T, H, W, 3) RGB, T = window_length (8 by default)
    val.npy         uint8 (N_val, T, H, W, 3)
The .npy files are read with np.load(mmap_mode="r"): no PNG decoding during training, thousands of windows
per second, memory independent of the dataset's size. Both `build-dataset` (windows from a movie) and
`synth` (rendered windows with exact ground truth) write this format through `DatasetWriter`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from numpy.lib.format import open_memmap
from pydantic import BaseModel, ConfigDict

from framegen.core.errors import InputError
from framegen.core.manifest import Manifest, read_manifest, resolve_inside, write_manifest

SPLITS = ("train", "val")


class WindowInfo(BaseModel):
    """Where one window came from: its shot and the source frame index of each of its frames."""

    model_config = ConfigDict(extra="forbid")

    shot: str
    frames: list[int]


class SplitInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: str  # relative to the dataset folder
    shots: list[str]
    windows: list[WindowInfo]


class DatasetManifest(Manifest):
    SCHEMA = "framegen/dataset"
    SCHEMA_VERSION = 1

    kind: Literal["movie", "synthetic"]
    window_length: int
    height: int
    width: int
    splits: dict[str, SplitInfo]


class DatasetWriter:
    """Fill the split arrays window by window (bounded memory), then write the manifest last.

    `counts` gives the number of windows of each split up front, so the arrays are allocated once on disk.
    """

    def __init__(self, folder: Path, counts: dict[str, int], window_length: int, height: int, width: int):
        self.folder = Path(folder)
        self.shape = (window_length, height, width, 3)
        self.arrays = {
            split: open_memmap(self.folder / f"{split}.npy", mode="w+", dtype=np.uint8, shape=(count, *self.shape))
            for split, count in counts.items()
        }
        self.windows: dict[str, list[WindowInfo]] = {split: [] for split in counts}

    def add(self, split: str, window: np.ndarray, info: WindowInfo) -> None:
        """window: uint8 (T, H, W, 3) RGB."""
        if window.shape != self.shape or window.dtype != np.uint8:
            raise ValueError(f"window {window.shape} {window.dtype} does not match {self.shape} uint8")
        index = len(self.windows[split])
        self.arrays[split][index] = window
        self.windows[split].append(info)

    def finish(self, manifest_fields: dict) -> DatasetManifest:
        """Flush the arrays and write manifest.json (fields: the Manifest header + `kind`)."""
        splits = {}
        for split, array in self.arrays.items():
            if len(self.windows[split]) != len(array):
                raise RuntimeError(f"{split}: wrote {len(self.windows[split])} of {len(array)} windows")
            array.flush()
            shots = sorted({w.shot for w in self.windows[split]})
            splits[split] = SplitInfo(file=f"{split}.npy", shots=shots, windows=self.windows[split])
        t, h, w, _ = self.shape
        manifest = DatasetManifest(**manifest_fields, window_length=t, height=h, width=w, splits=splits)
        write_manifest(manifest, self.folder)
        return manifest


def open_split(folder: Path, split: str) -> tuple[DatasetManifest, np.ndarray]:
    """The manifest and the memory-mapped uint8 (N, T, H, W, 3) array of one split."""
    manifest = read_manifest(DatasetManifest, folder)
    if split not in manifest.splits:
        raise InputError(f"{folder}: dataset has no {split!r} split")
    info = manifest.splits[split]
    path = resolve_inside(folder, info.file)
    try:
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: unreadable dataset array ({e})") from None
    expected = (len(info.windows), manifest.window_length, manifest.height, manifest.width, 3)
    if array.shape != expected or array.dtype != np.uint8:
        raise InputError(f"{path}: array is {array.shape} {array.dtype}, manifest says {expected} uint8")
    return manifest, array


class WindowDataset(torch.utils.data.Dataset):
    """Windows of one split as float tensors `(T, 3, H, W)` in [0, 1].

    With `augment`: a random `crop` x `crop` crop, horizontal flip and time reversal (a window played
    backwards is as valid a motion as forwards). Without it, a centre crop when `crop` is set.
    Randomness comes from torch's RNG, so DataLoader workers and seeds behave as usual.
    """

    def __init__(self, folder: Path, split: str, crop: int | None = None, augment: bool = False):
        self.folder = Path(folder)
        self.manifest, self.array = open_split(folder, split)
        self.crop = crop
        self.augment = augment
        h, w = self.manifest.height, self.manifest.width
        if crop is not None and (crop > h or crop > w):
            raise InputError(f"{folder}: crop {crop} is larger than the dataset's {w}x{h} frames")

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, index: int) -> torch.Tensor:
        window = self.array[index]  # uint8 (T, H, W, 3), memory-mapped
        t, h, w, _ = window.shape
        if self.crop is not None:
            if self.augment:
                top = int(torch.randint(0, h - self.crop + 1, ()))
                left = int(torch.randint(0, w - self.crop + 1, ()))
            else:
                top, left = (h - self.crop) // 2, (w - self.crop) // 2
            window = window[:, top : top + self.crop, left : left + self.crop]
        frames = torch.from_numpy(np.ascontiguousarray(window)).permute(0, 3, 1, 2)  # uint8 (T, 3, H, W)
        if self.augment:
            if torch.rand(()) < 0.5:
                frames = frames.flip(-1)
            if torch.rand(()) < 0.5:
                frames = frames.flip(0)
        return frames.float().div_(255.0)  # float (T, 3, H, W) in [0, 1]
