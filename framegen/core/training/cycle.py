"""The cycle objective: a network learns from real frames at the very gap it fills, with no frame in between.

From three input frames (A, M, B), the same gap apart, the network makes P = f(A, M) and Q = f(M, B) at
t = 1/2, then f(P, Q) at t = 1/2, which should be M (VFI_Adapter, Wu et al., BMVC 2023). Every pass is at the
inputs' own gap; training on (A, B) -> M instead teaches twice the gap. The loss is the arch's loss on the
cycle, plus a pull of P and Q towards a frozen network's own P0, Q0 (Reda et al., ICCV 2019), which keeps a
few steps on a few frames from drifting.

Test-time adaptation (training/adapt.py) and `train --objective cycle` (training/step.py) both use it.
"""

from __future__ import annotations

import torch
from torch import nn

from framegen.core.models.registry import interpolate_padded

CYCLE_ARCHS = ("rife4", "rife3hd")  # the networks the cycle trains: they make the midpoint t = 1/2


def midpoint(generator: nn.Module, frame0: torch.Tensor, frame1: torch.Tensor) -> torch.Tensor:
    """The generator's frame at t = 1/2 between (B, 3, h, w) frames: (B, 3, h, w)."""
    half = torch.full((frame0.shape[0], 1), 0.5, dtype=frame0.dtype, device=frame0.device)  # (B, 1)
    return interpolate_padded(generator, frame0, frame1, half)[:, 0]


class CycleNetwork(nn.Module):
    """The three passes of the cycle as one module, so that one forward call makes all of them (what
    DistributedDataParallel expects between two backward passes)."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, a: torch.Tensor, m: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 3, h, w) each -> {"p": f(A, M), "q": f(M, B), "cycle": f(P, Q)}, (B, 3, h, w) each."""
        p, q = midpoint(self.generator, a, m), midpoint(self.generator, m, b)
        return {"p": p, "q": q, "cycle": midpoint(self.generator, p, q)}


def cycle_terms(outputs: dict[str, torch.Tensor], triplet: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                criterion: nn.Module, frozen: nn.Module | None, pull: float) -> dict[str, torch.Tensor]:
    """The loss terms of one cycle: `criterion`'s on f(P, Q) against M, and with a `frozen` network the pull
    `pull` x (L1(P, P0) + L1(Q, Q0)). `outputs`: CycleNetwork's on `triplet` (A, M, B)."""
    a, m, b = triplet
    terms = criterion({"frames": outputs["cycle"][:, None]}, m[:, None])
    if frozen is not None and pull > 0:
        with torch.no_grad():
            p0, q0 = midpoint(frozen, a, m), midpoint(frozen, m, b)
        terms["pull"] = pull * ((outputs["p"] - p0).abs().mean() + (outputs["q"] - q0).abs().mean())
    return terms


def cycle_error(generator: nn.Module, a: torch.Tensor, m: torch.Tensor, b: torch.Tensor) -> float:
    """The cycle's L1 against M on (S, 3, h, w) frames, no gradient."""
    with torch.no_grad():
        return float((CycleNetwork(generator)(a, m, b)["cycle"] - m).abs().mean())
