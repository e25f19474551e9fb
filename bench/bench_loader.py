"""Speed of the training loader: windows per second read through DataLoader(WindowDataset).

    python bench/bench_loader.py [--dataset DIR] [--windows 256] [--crop 224] [--batch 16] [--workers 2]

Without --dataset, writes a temporary dataset of `--windows` random 8x256x256 windows with DatasetWriter
(the format build-dataset writes); its file is in the page cache, as a dataset read every epoch is.
Prints windows/s (and MB/s of the uint8 windows read) for:
- storage:  uint8 random crops copied out of the memory-mapped array, one thread, no DataLoader;
- items:    WindowDataset(augment=True, crop) items, uint8 (T, 3, crop, crop), one thread;
- loader:   DataLoader(WindowDataset, shuffle, batch, num_workers) over `--epochs` epochs, after a
            warm-up batch (worker start-up not counted): the uint8 batches it delivers. The headline number;
- loader + windows_to_float: the same, each batch moved to the device (CUDA when there is one, else the CPU)
            and made float in [0, 1] there by `windows_to_float`, as the trainer's train_step does.
Issue 2 asks for thousands of windows per second without decoding PNGs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from framegen.core.formats.dataset import DatasetWriter, WindowDataset, WindowInfo
from framegen.core.media.convert import windows_to_float


def random_dataset(folder: Path, windows: int, size: int = 256, length: int = 8) -> None:
    rng = np.random.default_rng(0)
    writer = DatasetWriter(folder, {"train": windows, "val": 0}, length, size, size)
    for index in range(windows):
        window = rng.integers(0, 256, (length, size, size, 3), dtype=np.uint8)
        writer.add("train", window, WindowInfo(shot=f"shot{index // 16:03d}", frames=list(range(length))))
    writer.finish({"schema": "framegen/dataset", "schema_version": 1, "framegen_version": "bench", "created": "",
                   "command": [], "parameters": {}, "kind": "synthetic"})


def storage_rate(dataset: WindowDataset, crop: int) -> float:
    """uint8 crops copied out of the memmap, in random order: what the file format alone allows."""
    order = torch.randperm(len(dataset)).tolist()
    start = time.perf_counter()
    for index in order:
        np.ascontiguousarray(dataset.array[index][:, :crop, :crop])
    return len(order) / (time.perf_counter() - start)


def item_rate(dataset: WindowDataset) -> float:
    order = torch.randperm(len(dataset)).tolist()
    start = time.perf_counter()
    for index in order:
        dataset[index]
    return len(order) / (time.perf_counter() - start)


def loader_rate(dataset: WindowDataset, batch: int, workers: int, epochs: int,
                device: torch.device | None = None) -> float:
    """Windows/s over `epochs` epochs after one warm-up batch; with `device`, each batch made float there."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers,
                                         persistent_workers=workers > 0, drop_last=True)
    iterator = iter(loader)
    next(iterator)  # warm-up: workers started, first batch made
    count, start = 0, time.perf_counter()
    for epoch in range(epochs):
        for windows in iterator:  # (B, T, 3, crop, crop) uint8
            if device is not None:
                windows = windows_to_float(windows.to(device, non_blocking=True))  # float in [0, 1]
            count += windows.shape[0]
        if epoch + 1 < epochs:
            iterator = iter(loader)
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, help="an existing dataset folder (default: a temporary one)")
    parser.add_argument("--windows", type=int, default=256)
    parser.add_argument("--crop", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dataset
        if folder is None:
            folder = Path(tmp)
            random_dataset(folder, args.windows)
        dataset = WindowDataset(folder, "train", crop=args.crop, augment=True)
        megabytes = dataset.array[0, :, : args.crop, : args.crop].nbytes / 1e6
        rates = {
            "storage (uint8 crops from the memmap, 1 thread)": storage_rate(dataset, args.crop),
            "items (WindowDataset, uint8, augment, 1 thread)": item_rate(dataset),
            f"loader (DataLoader, batch {args.batch}, num_workers={args.workers})": loader_rate(
                dataset, args.batch, args.workers, args.epochs
            ),
            f"loader + windows_to_float on {device.type}": loader_rate(
                dataset, args.batch, args.workers, args.epochs, device
            ),
        }
    print(f"{len(dataset)} windows of {dataset.array.shape[1]}x{dataset.array.shape[2]}x{dataset.array.shape[3]}, "
          f"crop {args.crop}:")
    for name, rate in rates.items():
        print(f"  {name:60s} {rate:7.0f} windows/s  ({rate * megabytes:5.0f} MB/s of uint8)")

if __name__ == "__main__":
    main()
