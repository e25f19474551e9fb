"""Test-time adaptation: a network learns the shot it is about to interpolate, from that shot's own drawings,
at the very gap it will fill, and is reset afterwards.

It learns by the cycle objective (training/cycle.py): from three consecutive input drawings (A, M, B),
f(f(A, M), f(M, B)) should be M, at the very gap interpolation fills, with a pull towards the frozen
network's outputs.

Memory does not grow with the frame size or the shot's length: a shot gives a pool of at most
`max_triplets` triplets (spread over the shot), each cut into `crops_per_triplet` random crops of
`crop` px, taken while its frames stream past (`CropPool`); the steps draw batches from that pool with
random flips and time reversal.

A stopping rule guards each shot: the cycle loss of the first pool samples (no augmentation) is measured
before and after the steps, and the adapted weights are kept only if it went down; otherwise the shot is
interpolated with the original weights and says so.
"""

from __future__ import annotations

import copy
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import torch
from torch import nn

from framegen.core.scenes import MovieScenes
from framegen.core.training.adapt_config import AdaptConfig
from framegen.core.training.cycle import CycleNetwork, cycle_error, cycle_terms
from framegen.core.training.losses import RifeLoss, RifeLossConfig

log = logging.getLogger(__name__)

CHECK_SAMPLES = 4  # pool samples the stopping rule scores before and after
ADAPT_FRAMES = 4  # full frames held while a pool is collected: the three of a triplet and the one decoded
# Peak memory of a step, bytes per pixel of the step's crops (batch x crop^2): three passes kept for the
# backward pass. Measured as the growth of peak RSS from 2 x 128^2 to 4 x 256^2 crops (bench/bench_adapt.py
# --memory): rife4 4.7 and 5.2 KB in two runs, rife3hd 9.7 KB.
STEP_BYTES_PER_PIXEL = {"rife4": 6_000, "rife3hd": 11_000}


@dataclass
class AdaptReport:
    """What adaptation did on one shot."""

    drawings: int  # input drawings of the shot
    steps: int = 0  # 0: not adapted (see `skipped`)
    kept: bool = False  # the adapted weights were used
    loss_before: float | None = None  # the stopping rule's cycle loss
    loss_after: float | None = None
    seconds: float = 0.0
    skipped: str | None = None  # why the shot was not adapted

    def summary(self) -> str:
        if self.skipped:
            return f"not adapted: {self.skipped}"
        verdict = "kept" if self.kept else "not kept (the cycle loss did not go down)"
        return (f"{self.steps} steps in {self.seconds:.1f} s, cycle loss {self.loss_before:.4f} -> "
                f"{self.loss_after:.4f}, {verdict}")


def triplet_starts(drawings: int, max_triplets: int) -> list[int]:
    """Starts k of the triplets (k, k+1, k+2) a pool takes from `drawings` input drawings: all, or
    `max_triplets` spread evenly."""
    count = drawings - 2
    if count <= 0:
        return []
    if count <= max_triplets:
        return list(range(count))
    return sorted({round(i * (count - 1) / (max_triplets - 1)) for i in range(max_triplets)} if max_triplets > 1
                  else {0})


class CropPool:
    """The training samples of one shot: uint8 crops (S, 3 frames A M B, 3, c, c), collected as the shot's
    input drawings stream past in order (only the last three are held)."""

    def __init__(self, samples: torch.Tensor):
        self.samples = samples  # uint8 (S, 3, 3, c, c)

    @classmethod
    def collect(cls, drawings: Iterable[np.ndarray], count: int, config: AdaptConfig,
                rng: np.random.Generator) -> CropPool | None:
        """Crops of the triplets `triplet_starts(count, ...)` of `drawings` (uint8 (H, W, 3), `count` of them, in
        order); None when there is no triplet."""
        starts = set(triplet_starts(count, config.max_triplets))
        recent: list[np.ndarray] = []
        samples = []
        for index, frame in enumerate(drawings):
            recent = (recent + [frame])[-3:]
            if index - 2 in starts:
                samples += crops_of(np.stack(recent), config.crop, config.crops_per_triplet, rng)
        if not samples:
            return None
        return cls(torch.from_numpy(np.stack(samples)).permute(0, 1, 4, 2, 3).contiguous())

    def batch(self, size: int, rng: torch.Generator, device: torch.device) -> torch.Tensor:
        """`size` random samples, randomly flipped and time-reversed: float (B, 3, 3, c, c) in [0, 1]."""
        picked = self.samples[torch.randint(0, len(self.samples), (size,), generator=rng)]
        flips = torch.rand(3, generator=rng) < 0.5  # horizontal, vertical, time reversal
        dims = [d for d, flip in zip((4, 3, 1), flips) if flip]
        if dims:
            picked = picked.flip(dims)
        return picked.to(device).float() / 255.0


def crops_of(triplet: np.ndarray, side: int, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`count` random square crops of one uint8 triplet (3, H, W, 3), the same place in all three frames;
    the side is `side`, or the frames' smaller side rounded down to a multiple of 32 when they are smaller."""
    h, w = triplet.shape[1:3]
    side = min(side, max(32, min(h, w) // 32 * 32), h, w)
    crops = []
    for _ in range(count):
        top, left = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crops.append(triplet[:, top:top + side, left:left + side])
    return crops


class ShotAdapter:
    """Adapts one network to one shot at a time and puts its weights back after each (`adapted`)."""

    def __init__(self, generator: nn.Module, config: AdaptConfig, device: torch.device):
        self.generator = generator
        self.config = config
        self.device = device
        self.original = {name: tensor.detach().clone() for name, tensor in generator.state_dict().items()}
        self.frozen = copy.deepcopy(generator).eval().requires_grad_(False) if config.pull > 0 else None
        self.loss = RifeLoss(RifeLossConfig()).to(device)
        self.cycle = CycleNetwork(generator)
        self.shots = 0

    @contextmanager
    def adapted(self, pool: CropPool | None, drawings: int) -> Iterator[AdaptReport]:
        """Within the block the generator is adapted to the shot of `pool` (or left as it is when the shot
        is too short or the stopping rule rejects the steps); its original weights are back after it, even
        when the block is left by an exception (Ctrl-C)."""
        report = AdaptReport(drawings=drawings)
        try:
            if pool is None or drawings < self.config.min_drawings:
                report.skipped = f"{drawings} input drawings, fewer than the {self.config.min_drawings} it needs"
            else:
                self.adapt(pool, report)
            yield report
        finally:
            self.restore()
            self.shots += 1

    def restore(self) -> None:
        with torch.no_grad():
            for name, tensor in self.generator.state_dict().items():
                tensor.copy_(self.original[name])

    def adapt(self, pool: CropPool, report: AdaptReport) -> None:
        """The steps on `pool`, then the stopping rule (restores the original weights when they lose)."""
        c = self.config
        start = time.perf_counter()
        rng = torch.Generator().manual_seed(c.seed * 1_000_003 + self.shots)
        check = pool.samples[:CHECK_SAMPLES].to(self.device).float() / 255.0  # (S, 3, 3, c, c)
        report.loss_before = self.cycle_loss(check)
        self.steps(pool, c.steps, self.optimiser(), rng)
        report.steps = c.steps
        report.loss_after = self.cycle_loss(check)
        report.kept = report.loss_after < report.loss_before
        if not report.kept:
            self.restore()
        report.seconds = time.perf_counter() - start

    def optimiser(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.generator.parameters(), lr=self.config.lr, weight_decay=0.0)

    def steps(self, pool: CropPool, count: int, optimiser: torch.optim.Optimizer, rng: torch.Generator) -> None:
        """`count` optimiser steps on batches of `pool` (the generator's weights change in place)."""
        self.generator.requires_grad_(True)
        try:
            for _ in range(count):
                loss = self.step_loss(pool.batch(self.config.batch, rng, self.device))
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
        finally:
            self.generator.requires_grad_(False)

    def step_loss(self, triplets: torch.Tensor) -> torch.Tensor:
        """The cycle loss and the pull on a batch (B, 3, 3, c, c): one scalar to minimise."""
        triplet = triplets.unbind(1)  # A, M, B: (B, 3, c, c) each
        return sum(cycle_terms(self.cycle(*triplet), triplet, self.loss, self.frozen, self.config.pull).values())

    def cycle_loss(self, triplets: torch.Tensor) -> float:
        """The cycle's L1 against M on (S, 3, 3, c, c), no augmentation, no gradient."""
        return cycle_error(self.generator, *triplets.unbind(1))


def adaptation_memory(config: AdaptConfig, generator: nn.Module, arch: str) -> int:
    """Bytes adaptation needs beyond the loaded network: the weights' copies (the original, the frozen
    network, gradients and AdamW's two moments), the pool, one step."""
    weights = sum(p.numel() * p.element_size() for p in generator.parameters())
    pool = config.max_triplets * config.crops_per_triplet * 9 * config.crop**2
    return 5 * weights + pool + config.batch * config.crop**2 * STEP_BYTES_PER_PIXEL[arch]


def shot_pools(frames: Iterator[np.ndarray], scenes: MovieScenes,
               config: AdaptConfig) -> Iterator[tuple[CropPool | None, int]]:
    """(pool, its shot's drawings) for each shot of `scenes` in order, from one reading of the movie's `frames`:
    the pool of the shot's distinct drawings."""
    rng = np.random.default_rng(config.seed)
    for count, drawings in scenes.shot_drawings(frames):
        yield CropPool.collect(drawings, count, config, rng), count
