"""Which frames of a training window a step learns from: two inputs, the times between them, the targets.

`--times` (TrainConfig.times) picks how:
    window      inputs 0 and T-1, every frame of the window as a target, the ends too (t = k / (T-1),
                k = 0 .. T-1): what the mipal arch learns from
    all         each step either the large gap (inputs 0 and T-1, targets 1 .. T-2, every in-between t) or,
                with probability `small_gap`, the small gap ((i, i+2) -> i+1, a random i per window)
    random      one triplet per window, as RIFE trains: with probability `small_gap` a small-gap triplet
                (i, i+2) -> i+1, else (0, T-1) -> k with a random k in 1 .. T-2 (t = k / (T-1))
    midpoints   one triplet (i, i+2d) -> i+d per window, d and i random: the only times rife3hd makes
                exactly (its other times are bisections at dyadic times)

The draws are a pure function of (seed, step) (`step_rng`), so a resumed run draws what an
uninterrupted one would have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

TimesMode = Literal["window", "all", "random", "midpoints"]


@dataclass
class TrainingPairs:
    """What one step feeds the generator and compares its frames with."""

    frame0: torch.Tensor  # (B, 3, H, W) in [0, 1]
    frame1: torch.Tensor  # (B, 3, H, W) in [0, 1]
    times: torch.Tensor  # (B, K) in [0, 1]
    targets: torch.Tensor  # (B, K, 3, H, W) in [0, 1]: the real frames at `times`


def step_rng(seed: int, step: int) -> torch.Generator:
    """The random source of one step's draws: a pure function of (seed, step)."""
    return torch.Generator().manual_seed(seed * 2_000_003 + step)


def sample_pairs(window: torch.Tensor, mode: TimesMode, small_gap: float, rng: torch.Generator) -> TrainingPairs:
    """The inputs, times and targets of one step from windows (B, T, 3, H, W) in [0, 1]."""
    b, length = window.shape[:2]
    if mode == "window":
        times = torch.linspace(0, 1, length, device=window.device).expand(b, length)  # (B, T)
        return TrainingPairs(window[:, 0], window[:, -1], times, window)
    if mode == "all" and torch.rand(1, generator=rng).item() >= small_gap:
        times = (torch.arange(1, length - 1, device=window.device) / (length - 1)).expand(b, length - 2)  # (B, T-2)
        return TrainingPairs(window[:, 0], window[:, -1], times, window[:, 1:-1])
    if mode == "midpoints":
        triplets = midpoint_triplets(b, length, rng)
    else:  # "random", or the small-gap step of "all"
        triplets = random_triplets(b, length, 1.0 if mode == "all" else small_gap, rng)
    return gather_triplets(window, triplets)


def random_triplets(batch: int, length: int, small_gap: float, rng: torch.Generator) -> torch.Tensor:
    """(B, 3) int64 (i0, k, i1) per window: (i, i+1, i+2) with probability small_gap, else (0, k, T-1)."""
    small = torch.rand(batch, generator=rng) < small_gap
    start = torch.randint(0, length - 2, (batch,), generator=rng)
    target = torch.randint(1, length - 1, (batch,), generator=rng)
    zeros, last = torch.zeros_like(start), torch.full_like(start, length - 1)
    return torch.stack([torch.where(small, start, zeros), torch.where(small, start + 1, target),
                        torch.where(small, start + 2, last)], dim=1)


def midpoint_triplets(batch: int, length: int, rng: torch.Generator) -> torch.Tensor:
    """(B, 3) int64 (i, i+d, i+2d) per window, d in 1 .. (T-1) // 2 and i in 0 .. T-1-2d uniform."""
    half = torch.randint(1, (length - 1) // 2 + 1, (batch,), generator=rng)
    start = (torch.rand(batch, generator=rng) * (length - 2 * half)).long()  # uniform in 0 .. T-1-2d
    return torch.stack([start, start + half, start + 2 * half], dim=1)


def gather_triplets(window: torch.Tensor, triplets: torch.Tensor) -> TrainingPairs:
    """Each window's triplet (i0, k, i1): inputs i0, i1, target k at t = (k - i0) / (i1 - i0), K = 1."""
    rows = torch.arange(window.shape[0], device=window.device)
    first, target, second = (triplets[:, column].to(window.device) for column in range(3))
    times = ((target - first) / (second - first)).to(window.dtype)[:, None]  # (B, 1)
    return TrainingPairs(window[rows, first], window[rows, second], times, window[rows, target][:, None])
