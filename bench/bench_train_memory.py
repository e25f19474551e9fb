"""Peak memory of `framegen train` against the estimate it makes before its first step
(framegen/core/training/memory.py), for rife4, rife3hd and mipal at a few batches and crops.

    nice -n 10 python bench/bench_train_memory.py [--quick]

Each row runs `python -m framegen -q train` in a process of its own for STEPS steps on a 256x256 dataset of
discs moving over noise (bench_train.make_dataset; one validation window, no sample GIF): rife4 and rife3hd
fine-tuned from random weights installed as `--init` (as a fine-tune runs: the starting weights kept, L2-SP,
EMA), mipal the small model a CPU trains by default. It reads the process's peak RSS (os.wait4's
ru_maxrss), and prints it beside the estimate for the same config (computed here, as `train` computes it)
and their ratio. The calibration target: peak <= 1.10 x estimate in every row, and estimate <= 1.5 x peak.
The peak covers the whole run (the step-0 and final validations and the export too), which is what a run
that cannot fit would run out of; RSS does not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from bench_train import SMALL, make_dataset

from framegen.core.models.registry import build_generator
from framegen.core.stages import weights
from framegen.core.training.config import TrainConfig
from framegen.core.training.memory import estimate_memory

REPO = Path(__file__).resolve().parents[1]
STEPS = 2
WINDOW_LENGTH = 8  # make_dataset's
ARCHS = ("rife4", "rife3hd", "mipal")
SIZES = [(1, 64), (4, 128), (2, 256)]  # (batch, crop); 256 is the whole frame
QUICK_SIZES = [(1, 64), (4, 128)]


def settings(arch: str, batch: int, crop: int) -> dict:
    """The run's options, as TrainConfig fields (the command line gets the same as flags and a config file)."""
    common = {"arch": arch, "batch_size": batch, "crop": crop, "max_steps": STEPS, "device": "cpu",
              "val_windows": 1, "sample_windows": 0, "checkpoint_every": 10_000}
    if arch == "mipal":
        return {**common, "model": SMALL["model"]}
    return {**common, "init": arch}


def install_random_weights(arch: str, home: Path) -> None:
    """Random weights of `arch` in the published layout, installed as NAME `arch` in `home` (no download)."""
    torch.manual_seed(0)
    state = {f"module.{name}": tensor for name, tensor in build_generator(arch, {}).state_dict().items()}
    torch.save(state, home / f"{arch}.pkl")
    weights.import_file(home / f"{arch}.pkl", arch)


def peak_rss(dataset: Path, work: Path, options: dict) -> tuple[int, float, int]:
    """(peak RSS in bytes, seconds, exit status) of `framegen train` with `options`."""
    toml = work / "memory.toml"
    toml.write_text("val_windows = 1\nsample_windows = 0\ncheckpoint_every = 10000\n[model]\n" +
                    "".join(f"{key} = {value}\n" for key, value in options.get("model", {}).items()))
    command = [sys.executable, "-m", "framegen", "-q", "train", str(dataset), "-o", str(work / "run"), "--overwrite",
               "--config", str(toml), "--device", "cpu", "--max-steps", str(STEPS), "--arch", options["arch"],
               "--batch-size", str(options["batch_size"]), "--crop", str(options["crop"])]
    command += ["--init", options["init"]] if "init" in options else ["--full-size"]  # --full-size: as configured
    started = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    return usage.ru_maxrss * 1024, time.perf_counter() - started, status  # ru_maxrss: KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the two smaller sizes only")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; {STEPS} steps a run", flush=True)
    print(f"{'arch':<8} {'batch':>5} {'crop':>5} {'estimate GB':>11} {'peak GB':>8} {'peak/est':>8} {'seconds':>8}")
    with tempfile.TemporaryDirectory(prefix="framegen-train-memory-") as tmp:
        work = Path(tmp)
        os.environ["FRAMEGEN_HOME"] = str(work / "home")  # here and in the runs: the random weights only
        (work / "home").mkdir()
        dataset = make_dataset(work / "dataset")
        for arch in ARCHS:
            if arch != "mipal":
                install_random_weights(arch, work / "home")
            for batch, crop in QUICK_SIZES if args.quick else SIZES:
                options = settings(arch, batch, crop)
                estimate = estimate_memory(TrainConfig.model_validate({**options, "datasets": [str(dataset)]}),
                                           (crop, crop), WINDOW_LENGTH)
                peak, seconds, status = peak_rss(dataset, work, options)
                failed = "" if status == 0 else f"  exit status {status}"
                print(f"{arch:<8} {batch:>5} {crop:>5} {estimate.total / 1e9:>11.2f} {peak / 1e9:>8.2f} "
                      f"{peak / estimate.total:>8.2f} {seconds:>8.0f}{failed}", flush=True)


if __name__ == "__main__":
    main()
