"""Where a network runs: the CPU or a CUDA device (`--device`)."""

from __future__ import annotations

import torch

from framegen.core.errors import UsageError


def pick_device(preference: str, local_rank: int = 0) -> torch.device:
    """`auto` (CUDA when available), `cpu` or `cuda`; one CUDA device per local rank."""
    if runs_on_cpu(preference):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    device = torch.device("cuda", local_rank % torch.cuda.device_count())
    torch.cuda.set_device(device)
    return device


def runs_on_cpu(preference: str) -> bool:
    """Whether `--device preference` (auto, cpu, cuda) means the CPU on this machine."""
    return preference == "cpu" or (preference == "auto" and not torch.cuda.is_available())
