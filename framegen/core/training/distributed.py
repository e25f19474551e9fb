"""One code path for one process and for `torchrun --nproc-per-node N -m framegen train ...`.

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; without them this is a single process (rank 0 of 1).
Backend: NCCL on CUDA, gloo on CPU. Rank 0 alone writes files and talks; the other ranks are quiet.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from framegen.core.models.device import pick_device


@dataclass(frozen=True)
class Distributed:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1






def init_distributed(device_preference: str) -> Distributed:
    """Join the process group torchrun describes in the environment (or run alone)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_preference, local_rank)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Distributed(rank, local_rank, world_size, device)


def barrier(info: Distributed) -> None:
    if info.enabled:
        dist.barrier()


def largest(info: Distributed, value: float) -> float:
    """The largest of the processes' values, on every process (e.g. elapsed time: so that all of them stop
    at the same step and step with the same learning rate)."""
    if not info.enabled:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=info.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return float(tensor.item())


def any_process(info: Distributed, flag: bool) -> bool:
    """True on every process when `flag` is true on any of them (e.g. a Ctrl-C seen by one: all stop at the
    same step)."""
    return largest(info, float(flag)) > 0


def shutdown(info: Distributed) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
