"""Speed of the motion model's per-window training inputs: its starting motion (the `flow` engine's) and
the teacher flows (DIS from each real in-between), the CPU work of a `--arch motion` training step.

    python bench/bench_motion_inputs.py [--dataset DIR] [--crop 128] [--batch 16] [--batches 6] [--workers 2]

Windows/s for
- step:    computed inside the step for a whole batch (threads over the batch: OpenCV releases the GIL);
- loader:  computed per window by the trainer's loader (`SeededWindows` with the arch's training_inputs)
           in `--workers` DataLoader processes, overlapped with the step on a real run.
Without --dataset, random-texture windows are written to a temporary dataset.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from framegen.core.dataset import WindowDataset, to_float
from framegen.core.models.motion import flow_engine_motion, teacher_flows, training_inputs
from framegen.core.trainer import SeededWindows, window_times
from bench_loader import random_dataset


def step_rate(dataset: WindowDataset, batch: int, batches: int) -> float:
    count, started = 0, time.perf_counter()
    for first in range(0, batch * batches, batch):
        window = to_float(torch.stack([dataset[i % len(dataset)] for i in range(first, first + batch)]))
        times = window_times(batch, window.shape[1], torch.device("cpu"))
        flow_engine_motion(window[:, 0], window[:, -1], times)
        teacher_flows(window)
        count += batch
    return count / (time.perf_counter() - started)


def loader_rate(dataset: WindowDataset, batch: int, batches: int, workers: int) -> float:
    keys = [(0, i % len(dataset), i) for i in range(batch * (batches + 1))]
    loader = torch.utils.data.DataLoader(SeededWindows([dataset], training_inputs), batch_size=batch,
                                         sampler=keys, num_workers=workers)
    iterator = iter(loader)
    next(iterator)  # warm-up: workers started
    count, started = 0, time.perf_counter()
    for window, _, _ in iterator:
        count += window.shape[0]
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dataset
        if folder is None:
            folder = Path(tmp) / "windows"
            random_dataset(folder, 64)
        dataset = WindowDataset(folder, "train", crop=args.crop, augment=True)
        step = step_rate(dataset, args.batch, args.batches)
        loader = loader_rate(dataset, args.batch, args.batches, args.workers)
    print(f"{args.crop}x{args.crop} windows, batch {args.batch}: in the step (threads) {step:.1f} windows/s; "
          f"in {args.workers} loader processes {loader:.1f} windows/s ({loader / step:.2f}x)")


if __name__ == "__main__":
    main()
