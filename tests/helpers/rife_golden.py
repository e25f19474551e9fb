"""The recipe of the golden RIFE test: seeded weights in the published layout and a small pair, the same in
bench/make_rife_golden.py (which runs the reference code) and tests/test_rife_golden.py (framegen's)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "rife_golden.npz"
TIMES = [0.5, 0.25]
HEIGHT, WIDTH = 32, 48


def golden_weights(network: torch.nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict for `network`'s layout from numpy's legacy RandomState: convolutions He-normal scaled by
    1/2 (flows stay small, so the warps stay inside the frame), residual scales 1 +- 0.1, PReLU slopes
    0.25 +- 0.05, biases +- 0.01."""
    rng = np.random.RandomState(seed)
    weights = {}
    for name, tensor in sorted(network.state_dict().items()):
        shape = tuple(tensor.shape)
        if name.endswith("beta"):  # a residual block's scale, 1 in a fresh network
            values = 1.0 + rng.uniform(-0.1, 0.1, shape)
        elif len(shape) > 1:  # a convolution's kernel
            values = rng.normal(0.0, 0.5 * np.sqrt(2.0 / int(np.prod(shape[1:]))), shape)
        elif name.endswith("bias"):
            values = rng.uniform(-0.01, 0.01, shape)
        else:  # PReLU slopes
            values = 0.25 + rng.uniform(-0.05, 0.05, shape)
        weights[name] = torch.from_numpy(values.astype(np.float32))
    return weights


def golden_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """(1, 3, HEIGHT, WIDTH) x2 in [0, 1]: smooth colour blobs, and the same moved 2 px right and 1 down."""
    rng = np.random.RandomState(1)
    coarse = rng.uniform(0.0, 1.0, (3, HEIGHT // 8 + 2, WIDTH // 8 + 2)).astype(np.float32)
    big = torch.nn.functional.interpolate(torch.from_numpy(coarse)[None], scale_factor=8, mode="bicubic",
                                          align_corners=False).clamp(0, 1)
    return big[..., 4:4 + HEIGHT, 4:4 + WIDTH].contiguous(), big[..., 3:3 + HEIGHT, 2:2 + WIDTH].contiguous()
