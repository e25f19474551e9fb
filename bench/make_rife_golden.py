"""Make tests/data/rife_golden.npz: what the reference RIFE code (from the published wheels) makes with
seeded random weights, for tests/test_rife_golden.py to hold framegen's networks to, without the wheels.

    python bench/make_rife_golden.py [--wheels DIR]

The weights come from `golden_weights` (numpy's legacy RandomState, stable across versions and machines),
in the published layout; the pair is a smooth 32x48 picture and the same picture shifted. Stored: the
reference's frames at t = 1/4 and 1/2 (rife4: one call per t; rife3hd: its midpoint, and the midpoint of
frame 0 and that), float32 (N, 3, 32, 48). Run it again only when the reference or the recipe changes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from bench_rife_reference import REPO, reference_frames, reference_network  # noqa: E402
from helpers.rife_golden import GOLDEN, TIMES, golden_pair, golden_weights  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, default=REPO / ".cache" / "rife-wheels")
    args = parser.parse_args()
    args.wheels.mkdir(parents=True, exist_ok=True)
    frame0, frame1 = golden_pair()
    outputs = {}
    for name in ("rife4", "rife3hd"):
        reference, ours = reference_network(name, args.wheels, REPO / ".cache")
        weights = golden_weights(ours)
        reference.load_state_dict(weights, strict=name == "rife4")  # rife3hd's reference keeps its teacher
        with torch.no_grad():
            frames = reference_frames(name, reference, frame0, frame1, TIMES)
        outputs[name] = torch.cat(frames).numpy().astype(np.float32)  # (len(TIMES), 3, H, W)
        print(f"{name}: reference frames {outputs[name].shape}, mean {outputs[name].mean():.4f}")
    np.savez_compressed(GOLDEN, **outputs)
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
