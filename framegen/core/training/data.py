"""The data phase of training: which windows each process trains on, in which order, and the held-out
windows it is validated on.

The order of windows and each window's augmentation are pure functions of (seed, epoch, position), so a
resumed run replays exactly what an uninterrupted one would have seen.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from framegen.core.errors import InputError, UsageError
from framegen.core.formats.dataset import WindowDataset
from framegen.core.manifest import manifest_path
from framegen.core.scoring import WindowSet, open_windows
from framegen.core.training.config import TrainConfig
from framegen.core.training.distributed import Distributed


class WindowSampler(torch.utils.data.Sampler):
    """This process's share of one epoch: (dataset, window, augmentation seed) triples.

    The order is a pure function of (seed, epoch): uniform over all windows without weights, or drawn
    with replacement so that dataset d makes up weights[d] of the epoch. Each of `world_size` processes
    takes every world_size-th sample (the epoch padded to a multiple, as DistributedSampler does).
    `set_epoch(epoch, skip)` starts after `skip` samples: a resumed run replays the same order.
    """

    def __init__(self, lengths: list[int], weights: list[float] | None, seed: int, rank: int, world_size: int):
        self.lengths, self.weights, self.seed = lengths, weights, seed
        self.rank, self.world_size = rank, world_size
        self.offsets = np.cumsum([0, *lengths])
        self.per_rank = math.ceil(sum(lengths) / world_size)
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def epoch_samples(self, epoch: int) -> list[tuple[int, int, int]]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        total = int(self.offsets[-1])
        if self.weights is None:
            order = torch.randperm(total, generator=generator)
        else:
            per_window = torch.cat([torch.full((n,), w / n, dtype=torch.float64)
                                    for n, w in zip(self.lengths, self.weights) if n > 0])
            order = torch.multinomial(per_window, total, replacement=True, generator=generator)
        aug_seeds = torch.randint(0, 2**62, (total,), generator=generator)
        padded = torch.arange(self.per_rank * self.world_size) % total
        mine = padded[self.rank :: self.world_size]
        samples = []
        for position in mine.tolist():
            index = int(order[position])
            dataset = int(np.searchsorted(self.offsets, index, side="right") - 1)
            samples.append((dataset, index - int(self.offsets[dataset]), int(aug_seeds[position])))
        return samples

    def __iter__(self):
        return iter(self.epoch_samples(self.epoch)[self.skip :])

    def __len__(self) -> int:
        return self.per_rank - self.skip


class SeededWindows(torch.utils.data.Dataset):
    """Windows of several datasets; each item's augmentation is drawn from its own seed."""

    def __init__(self, datasets: list[WindowDataset]):
        self.datasets = datasets

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)

    def __getitem__(self, key: tuple[int, int, int]) -> torch.Tensor:
        dataset, index, seed = key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.datasets[dataset][index]  # (T, 3, H, W) uint8


def open_training_data(config: TrainConfig) -> tuple[list[WindowDataset], list[WindowSet], list[Path],
                                                      tuple[int, int]]:
    """(train datasets, held-out windows to validate on, dataset manifest paths, training frame (height, width))."""
    folders = [Path(d) for d in config.datasets]
    if not folders:
        raise UsageError("no dataset given")
    train_sets = [WindowDataset(folder, "train", crop=config.crop, augment=True) for folder in folders]
    manifests = [d.manifest for d in train_sets]
    lengths = {m.window_length for m in manifests}
    if len(lengths) > 1:
        raise UsageError(f"datasets have different window lengths {sorted(lengths)}; train on one length at a time")
    if min(lengths) < 3:
        raise InputError(f"{folders[0]}: windows of {min(lengths)} frames have no in-between to learn")
    if config.crop is None and len({(m.height, m.width) for m in manifests}) > 1:
        raise UsageError("datasets have different frame sizes: train on --crop squares")
    if sum(len(d) for d in train_sets) == 0:
        raise InputError(f"{', '.join(map(str, folders))}: no training windows")
    movie = [f for f, m in zip(folders, manifests) if m.kind == "movie"]
    val_folders = folders if config.validate_synthetic or not movie else movie
    val_sets = [w for w in (open_windows(f, "val", config.val_windows) for f in val_folders) if w.indices]
    size = (config.crop, config.crop) if config.crop else (manifests[0].height, manifests[0].width)
    return train_sets, val_sets, [manifest_path(f) for f in folders], size


@dataclass
class TrainingData:
    """What the data phase hands on: this process's loader and sampler, the held-out windows, the sizes."""

    sampler: WindowSampler
    loader: torch.utils.data.DataLoader  # batches of uint8 (B, T, 3, H, W)
    val_sets: list[WindowSet]
    dataset_manifests: list[Path]
    frame_size: tuple[int, int]  # (height, width) of the training frames
    window_length: int  # frames per window
    train_windows: int
    steps_per_epoch: int


def open_data(config: TrainConfig, dist: Distributed) -> TrainingData:
    """The data phase: training windows (mixed by weight) in this process's order, validation windows."""
    train_sets, val_sets, dataset_manifests, frame_size = open_training_data(config)
    sampler = WindowSampler([len(d) for d in train_sets], config.mix, config.seed, dist.rank, dist.world_size)
    workers = config.workers
    if workers is None:  # a CPU step takes seconds, loading a window a millisecond; a GPU step needs helpers
        workers = min(8, os.cpu_count() or 1) if dist.device.type == "cuda" else 0
    loader = torch.utils.data.DataLoader(
        SeededWindows(train_sets), batch_size=config.batch_size, sampler=sampler, num_workers=workers,
        pin_memory=dist.device.type == "cuda", persistent_workers=workers > 0, generator=torch.Generator(),
    )
    return TrainingData(sampler, loader, val_sets, dataset_manifests, frame_size, train_sets[0].manifest.window_length,
                        sum(len(d) for d in train_sets), math.ceil(sampler.per_rank / config.batch_size))
