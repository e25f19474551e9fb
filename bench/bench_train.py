"""Training speed at 256x256: windows/s, the trainer's overhead over a bare loop, and the loader's share.

    python bench/bench_train.py            # small config, then the default (faithful) config
    python bench/bench_train.py --quick    # small config only

What it prints, per config:
- windows/s of a bare training step (core.training.step.train_step, the trainer's own step: G forward, D
  step on detached fakes, G step), wall clock, all threads, the fastest of a few steps (the machine is
  shared: the minimum is the least disturbed);
- the overhead of `framegen train` (core.trainer.train: sampler, loader, EMA, progress, loss bookkeeping)
  over that bare loop: the trainer's marginal cost per step, from two runs of different lengths (so
  start-up, validation and export cancel), divided by the bare loop's; target <= 1.1x. Measured in CPU
  seconds of this process on one thread, which other processes on a shared machine barely disturb;
- windows/s of the training data loader alone, and its share of a training step (also CPU seconds).
Peak memory against the estimate: bench/bench_train_memory.py.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from framegen.core.formats.dataset import DatasetManifest, DatasetWriter, WindowInfo
from framegen.core.media.convert import windows_to_float
from framegen.core.training.config import TrainConfig
from framegen.core.training.data import SeededWindows, WindowSampler, open_training_data
from framegen.core.training.loop import train
from framegen.core.training.models import TrainingModels
from framegen.core.training.pairs import sample_pairs, step_rng
from framegen.core.training.step import train_step

SIZE = 256
SMALL = {"model": {"width": 0.25, "refiner_depth": 6}, "gan": {"discriminator": {"channels": 16}}}
DEFAULT: dict = {}


def make_dataset(folder: Path, train_windows: int = 24, val_windows: int = 2, length: int = 8) -> Path:
    """Windows of discs moving over noise, 256x256."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    writer = DatasetWriter(folder, {"train": train_windows, "val": val_windows}, length, SIZE, SIZE)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    for i in range(train_windows + val_windows):
        background = rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
        start, velocity = rng.uniform(40, 216, 2), rng.uniform(-8, 8, 2)
        window = np.empty((length, SIZE, SIZE, 3), np.uint8)
        for t in range(length):
            cy, cx = start + t * velocity
            window[t] = background
            window[t][(yy - cy) ** 2 + (xx - cx) ** 2 < 30**2] = (240, 200, 40)
        split = "train" if i < train_windows else "val"
        writer.add(split, window, WindowInfo(shot=split, frames=list(range(length))))
    writer.finish(dict(**DatasetManifest.header({"bench": True}), kind="movie"))
    return folder


def config_for(dataset: Path, overrides: dict, batch: int, steps: int) -> TrainConfig:
    return TrainConfig.model_validate({
        **overrides, "datasets": [str(dataset)], "batch_size": batch, "max_steps": steps, "device": "cpu",
        "checkpoint_every": 10_000, "val_windows": 1, "sample_windows": 0,
    })


def bare_step_seconds(config: TrainConfig, batch: torch.Tensor, steps: int, clock) -> list[float]:
    """Seconds (by `clock`) of each step of the same models and step function in a plain loop (no trainer)."""
    torch.manual_seed(0)
    models = TrainingModels(config, torch.device("cpu"))
    durations = []
    for step in range(steps + 1):  # the first step warms up
        started = clock()
        pairs = sample_pairs(batch, config.times, config.small_gap, step_rng(config.seed, step))
        train_step(models, pairs, contextlib.nullcontext())
        durations.append(clock() - started)
    return durations[1:]


def trainer_seconds(config: TrainConfig, run: Path) -> float:
    started = time.process_time()
    train(config, run, overwrite=True)
    return time.process_time() - started


def loader_windows_per_second(config: TrainConfig) -> float:
    train_sets, _, _, _ = open_training_data(config)
    sampler = WindowSampler([len(d) for d in train_sets], None, 0, 0, 1)
    loader = torch.utils.data.DataLoader(SeededWindows(train_sets), batch_size=config.batch_size, sampler=sampler)
    started, count = time.process_time(), 0
    for _ in range(3):
        for window in loader:  # (B, T, 3, H, W) uint8, made float as the trainer does
            count += windows_to_float(window).shape[0]
    return count / (time.process_time() - started)


def measure_speed(name: str, config: TrainConfig, windows: torch.Tensor, steps: int) -> None:
    fastest = min(bare_step_seconds(config, windows, steps, time.perf_counter))
    batch = windows.shape[0]
    print(f"[{name}] bare loop, {torch.get_num_threads()} threads: {fastest:.2f} s/step = "
          f"{batch / fastest:.3f} windows/s (batch {batch}, {SIZE}x{SIZE}, fastest of {steps} steps)", flush=True)


def measure_overhead(name: str, dataset: Path, overrides: dict, windows: torch.Tensor, work: Path, short: int,
                     long: int) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    batch = windows.shape[0]
    config = config_for(dataset, overrides, batch, short)
    bare = float(np.median(bare_step_seconds(config, windows, 3, time.process_time)))
    t_short = trainer_seconds(config, work / "short")
    t_long = trainer_seconds(config_for(dataset, overrides, batch, long), work / "long")
    marginal = (t_long - t_short) / (long - short)
    print(f"[{name}] 1 thread, CPU s: bare loop {bare:.2f} s/step; framegen train {t_short:.1f} s for {short} "
          f"steps, {t_long:.1f} s for {long} -> {marginal:.2f} s/step marginal")
    print(f"[{name}] trainer overhead over the bare loop: {marginal / bare:.3f}x (target <= 1.1x)")
    loader = loader_windows_per_second(config)
    print(f"[{name}] loader alone: {loader:.0f} windows/s per CPU second = {batch / loader / marginal:.2%} of a "
          "training step", flush=True)
    torch.set_num_threads(threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small config only")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        dataset = make_dataset(work / "dataset")
        train_set = open_training_data(config_for(dataset, {}, 1, 1))[0][0]
        windows = windows_to_float(torch.stack([train_set[i] for i in range(4)]))  # (4, T, 3, H, W) in [0, 1]
        small = "small (width 0.25, refiner_depth 6)"
        measure_speed(small, config_for(dataset, SMALL, 4, 1), windows, steps=3)
        measure_overhead(small, dataset, SMALL, windows, work, short=2, long=6)
        if not args.quick:
            measure_speed("default (faithful)", config_for(dataset, DEFAULT, 2, 1), windows[:2], steps=2)


if __name__ == "__main__":
    sys.exit(main())
