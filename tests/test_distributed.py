"""`torchrun --nproc-per-node 2 -m framegen train ...` on the CPU (gloo): the same command, DDP underneath. Run as
`python -m torch.distributed.run` (what `torchrun` is), so it never depends on PATH and never skips."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from helpers.datasets import make_dataset, tiny_config

pytestmark = pytest.mark.e2e


def test_two_processes_train_like_one_process_with_twice_the_batch(cli, tmp_path):
    dataset = make_dataset(tmp_path / "ds")
    config = tiny_config(tmp_path)
    options = ["--config", str(config), "--max-steps", "2", "--device", "cpu", "--seed", "1"]
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "framegen", "train", str(dataset),
         "-o", "ddp", "--batch-size", "1", *options],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.count("wrote ") == 1  # rank 0 reports; rank 1 is quiet
    assert completed.stderr.count("Training mipal") == 1
    manifest = json.loads((tmp_path / "ddp" / "manifest.json").read_text())
    assert manifest["world_size"] == 2 and manifest["steps"] == 2

    # Two processes with one window each see the same windows as one process with two, and DDP averages the
    # gradients, so the weights match up to float rounding.
    assert cli("train", dataset, "-o", "single", "--batch-size", "2", *options)[0] == 0
    ddp = torch.load(tmp_path / "ddp" / "checkpoints" / "last.pt", weights_only=True)
    single = torch.load(tmp_path / "single" / "checkpoints" / "last.pt", weights_only=True)
    for name, weight in single["generator"].items():
        torch.testing.assert_close(ddp["generator"][name], weight, atol=2e-4, rtol=1e-3, msg=name)
    # The discriminator's last bias has a gradient of exactly 0 in exact arithmetic under the hinge loss, so
    # rounding picks its sign and Adam moves it by up to lr (5e-4) per step either way.
    for name, weight in single["discriminator"].items():
        torch.testing.assert_close(ddp["discriminator"][name], weight, atol=2e-3, rtol=1e-3, msg=name)
