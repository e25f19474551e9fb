"""Datasets of frame windows: the on-disk format, its writer, and the torch Dataset that reads it.

A dataset folder:
    manifest.json   DatasetManifest (schema framegen/dataset)
    train.npy       uint8 (N_train, T, H, W, 3) RGB, T = window_length (8 by default)
    val.npy         uint8 (N_val, T, H, W, 3)
The .npy files are read with np.load(mmap_mode="r"): no PNG decoding during training, thousands of windows
per second, memory independent of the dataset's size. Both `build-dataset` (windows from a movie) and
`synth` (rendered windows with exact ground truth) write this format through `DatasetWriter`, which
reserves the disk space first (`reserve_disk_space`) so a full disk fails before the work.

torch is imported only where windows become tensors (`WindowDataset.__getitem__`; the conversion to float,
convert.windows_to_float, just calls tensor methods): the stages that write datasets (build-dataset, synth)
never load it, which saves seconds of start-up and about 600 MB."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

import numpy as np
from numpy.lib.format import open_memmap
from pydantic import BaseModel, ConfigDict

from framegen.core.errors import InputError, first_line
from framegen.core.files import check_regular_file
from framegen.core.manifest import Manifest, read_manifest, reported_as, resolve_inside, write_manifest

if TYPE_CHECKING:
    import torch

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

    `counts` gives the number of windows of each split up front, so the arrays are allocated once on disk,
    after a check that the disk has room for them. `add` writes a window with an ordinary file write, not
    through the memory map: pages written through a map count in the process's resident memory until it
    ends (RSS grew by the dataset's size: 3.5 GB for 2000 windows of 256 px), while written file data is
    the kernel's to evict.

    Used as a context manager (`with DatasetWriter(...) as writer:`), a failure before `finish` removes the
    split files, so a run that fails never keeps its reserved disk space; a failed allocation always does.
    """

    def __init__(self, folder: Path, counts: dict[str, int], window_length: int, height: int, width: int):
        self.folder = Path(folder)
        self.shape = (window_length, height, width, 3)
        self.arrays = {}  # np.memmap of each split file (its name, length and header size)
        self.files = {}
        self.finished = False
        check_free_space(self.folder, dataset_bytes(counts, *self.shape[:3]))
        try:
            for split, count in counts.items():
                path = self.folder / f"{split}.npy"
                self.arrays[split] = open_memmap(path, mode="w+", dtype=np.uint8, shape=(count, *self.shape))
                reserve_disk_space(path)
                self.files[split] = open(path, "r+b")
        except BaseException:
            self.discard()
            raise
        self.windows: dict[str, list[WindowInfo]] = {split: [] for split in counts}

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is not None and not self.finished:
            self.discard()

    def discard(self) -> None:
        """Close and remove the split files: the disk space they reserved is free again."""
        for file in self.files.values():
            file.close()
        for array in self.arrays.values():
            Path(array.filename).unlink(missing_ok=True)
        self.files, self.arrays = {}, {}

    def add(self, split: str, window: np.ndarray, info: WindowInfo) -> None:
        """window: uint8 (T, H, W, 3) RGB."""
        if window.shape != self.shape or window.dtype != np.uint8:
            raise ValueError(f"window {window.shape} {window.dtype} does not match {self.shape} uint8")
        if len(self.windows[split]) >= len(self.arrays[split]):
            raise ValueError(f"{split}: more windows than the {len(self.arrays[split])} allocated")
        write_row(self.files[split], self.arrays[split], len(self.windows[split]), window)
        self.windows[split].append(info)

    def add_written(self, split: str, info: WindowInfo) -> None:
        """Record a window that another process wrote itself into the next row of the split's file."""
        if len(self.windows[split]) >= len(self.arrays[split]):
            raise ValueError(f"{split}: more windows than the {len(self.arrays[split])} allocated")
        self.windows[split].append(info)

    def finish(self, manifest_fields: dict) -> DatasetManifest:
        """Flush the arrays and write manifest.json (fields: the Manifest header + `kind`)."""
        splits = {}
        for split, array in self.arrays.items():
            if len(self.windows[split]) != len(array):
                raise RuntimeError(f"{split}: wrote {len(self.windows[split])} of {len(array)} windows")
            with self.files[split] as file, reported_as(array.filename):  # the windows are on disk before
                file.flush()  # the manifest says they are
                os.fsync(file.fileno())
            shots = sorted({w.shot for w in self.windows[split]})
            splits[split] = SplitInfo(file=f"{split}.npy", shots=shots, windows=self.windows[split])
        t, h, w, _ = self.shape
        manifest = DatasetManifest(**manifest_fields, window_length=t, height=h, width=w, splits=splits)
        write_manifest(manifest, self.folder)
        self.finished = True
        return manifest


def write_row(file: BinaryIO, array: np.memmap, row: int, window: np.ndarray) -> None:
    """Write `window` as row `row` of the .npy file opened as `file` and mapped as `array`, without
    touching the map (see DatasetWriter)."""
    file.seek(array.offset + row * window.nbytes)
    file.write(np.ascontiguousarray(window).data)


def dataset_bytes(counts: dict[str, int], window_length: int, height: int, width: int) -> int:
    """The size of the split files of a dataset of `counts` windows of that shape (less their small headers)."""
    return sum(counts.values()) * window_length * height * width * 3


def check_room_for_dataset(folder: Path, needed: int) -> None:
    """check_free_space before --overwrite removes anything: the files `folder` holds now count as free."""
    folder = Path(folder)
    held = sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) \
        if folder.is_dir() else 0
    check_free_space(folder, needed, held)


def check_free_space(folder: Path, needed: int, replaced: int = 0) -> None:
    """InputError (exit 3) naming `folder` unless its disk has `needed` bytes free (counting the `replaced`
    bytes of the files the new ones replace), checked before any reservation: asking for more than the disk
    holds must not fill it first."""
    disk = next(p for p in (Path(folder), *Path(folder).absolute().parents) if p.exists())  # folder may be new
    free = shutil.disk_usage(disk).free + replaced
    if needed > free:
        raise InputError(f"{folder}: the dataset needs {needed / 1e9:.2f} GB and its disk has {free / 1e9:.2f} GB "
                         "free; free some space, or ask for fewer or smaller windows")


def reserve_disk_space(path: Path) -> None:
    """Allocate the blocks of a new (sparse) memory-mapped file now. On a full disk this raises OSError
    (ENOSPC, exit 3) here, before any work; otherwise the first write to an unallocated page would kill
    the process with SIGBUS."""
    if not hasattr(os, "posix_fallocate"):  # not on macOS or Windows
        return
    with open(path, "r+b") as f, reported_as(path):
        os.posix_fallocate(f.fileno(), 0, os.fstat(f.fileno()).st_size)


def open_split(folder: Path, split: str) -> tuple[DatasetManifest, np.ndarray]:
    """The manifest and the memory-mapped uint8 (N, T, H, W, 3) array of one split."""
    manifest = read_manifest(DatasetManifest, folder)
    if split not in manifest.splits:
        raise InputError(f"{folder}: dataset has no {split!r} split")
    info = manifest.splits[split]
    path = resolve_inside(folder, info.file)
    check_regular_file(path, "a dataset array (.npy)")
    try:
        array = np.load(path, mmap_mode="r")
    except EOFError:  # np.load's word for a file shorter than its header (0 bytes)
        raise InputError(f"{path}: unreadable dataset array (empty or truncated file)") from None
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: unreadable dataset array ({first_line(e)})") from None
    expected = (len(info.windows), manifest.window_length, manifest.height, manifest.width, 3)
    if array.shape != expected or array.dtype != np.uint8:
        raise InputError(f"{path}: array is {array.shape} {array.dtype}, manifest says {expected} uint8")
    return manifest, array


class WindowDataset:
    """Windows of one split as uint8 tensors `(T, 3, H, W)`; convert.windows_to_float makes them floats in [0, 1].

    A map-style torch dataset (all a DataLoader needs is `__len__` and `__getitem__`).

    Items stay uint8 through the DataLoader (a quarter of float's bytes to copy between its processes and
    to the device); the batch becomes float where it is used, on the device.
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
        import torch

        window = self.array[index]  # uint8 (T, H, W, 3), memory-mapped
        t, h, w, _ = window.shape
        if self.crop is not None:
            if self.augment:
                top = int(torch.randint(0, h - self.crop + 1, ()))
                left = int(torch.randint(0, w - self.crop + 1, ()))
            else:
                top, left = (h - self.crop) // 2, (w - self.crop) // 2
            window = window[:, top : top + self.crop, left : left + self.crop]
        frames = torch.from_numpy(np.array(window)).permute(0, 3, 1, 2)  # uint8 (T, 3, H, W), a writable copy
        if self.augment:
            if torch.rand(()) < 0.5:
                frames = frames.flip(-1)
            if torch.rand(()) < 0.5:
                frames = frames.flip(0)
        return frames


