"""The settings of test-time adaptation (`--adapt-*`, training/adapt.py), apart from the adaptation itself:
the stages' configs hold them, and `interpolate` with an engine that runs no network never imports torch."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AdaptConfig(BaseModel):
    """How a network adapts to one shot (`--adapt-*` options)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    steps: int = Field(10, ge=1, le=10_000)  # optimiser steps per shot
    lr: float = Field(1e-5, gt=0, le=1.0)  # AdamW, no weight decay
    batch: int = Field(4, ge=1, le=64)  # crops per step
    crop: int = Field(256, ge=32, le=2048)  # px, square; smaller where the frames are smaller
    pull: float = Field(0.1, ge=0)  # weight of L1(f(A, M), f0(A, M)) towards the frozen network's outputs
    min_drawings: int = Field(4, ge=3)  # a shot with fewer input drawings is not adapted
    max_triplets: int = Field(32, ge=1, le=4096)  # triplets per shot in the pool, spread over it
    crops_per_triplet: int = Field(2, ge=1, le=64)
    seed: int = 0
