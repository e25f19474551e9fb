"""RIFE on large frames: tiles or the upstream `scale` 0.5? Quality, time and peak memory of one option.

    python bench/bench_rife_large.py WORKSPACE --weights rife4 --scale 1.0 --tile 4096   # the whole frame
    python bench/bench_rife_large.py WORKSPACE --weights rife4 --scale 1.0 --tile 768    # the engine's tiles
    python bench/bench_rife_large.py WORKSPACE --weights rife4 --scale 0.5 --tile 4096   # upstream scale 0.5

WORKSPACE holds `frames/` and `dataset/` of the sample movie (extract, filter, build-dataset). Pairs: three
validation windows, evenly spread; frames 0, 2 -> 1 and 0, 6 -> 3 (t = 1/2), each frame resized to
1920x1080 (bicubic), so the motion is 4x that of the 480x270 movie. Prints the PSNR of each in-between
against the real frame, their mean, the median seconds per frame, and this process's peak RSS: run each
option in its own process (as above) so the peaks are its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from framegen.core.engines.model import ModelEngine
from framegen.core.media.images import read_image
from framegen.core.models.export import load_exported
from framegen.core.models.registry import build_generator
from framegen.core.models.store import resolve_export

SIZE = (1920, 1080)


def psnr(made: np.ndarray, real: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((made.astype(np.float64) - real) ** 2)))


def triplets(workspace: Path) -> list[tuple[int, int, int]]:
    """(first, middle, last) frame numbers: frames 0, 1, 2 and 0, 3, 6 of three validation windows."""
    manifest = json.loads((workspace / "dataset" / "manifest.json").read_text())
    windows = manifest["splits"]["val"]["windows"]
    picked = [windows[i]["frames"] for i in np.linspace(0, len(windows) - 1, 3).astype(int)]
    return [(f[a], f[(a + b) // 2], f[b]) for f in picked for a, b in ((0, 2), (0, 6))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workspace", type=Path)
    parser.add_argument("--weights", default="rife4", help="installed weights NAME or export folder")
    parser.add_argument("--scale", type=float, default=1.0, help="the network's upstream scale: 1.0 or 0.5")
    parser.add_argument("--tile", type=int, default=768, help="tile side in px (4096: the whole 1080p frame)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    network, info = load_exported(resolve_export(args.weights))
    scaled = build_generator(info.arch, {**info.config, "scale": args.scale})
    scaled.load_state_dict(network.state_dict())
    engine = ModelEngine(scaled, info, tile_side=args.tile, device="cpu")

    def frame(number: int) -> np.ndarray:  # uint8 (1080, 1920, 3)
        return cv2.resize(read_image(args.workspace / "frames" / f"{number:06d}.png"), SIZE,
                          interpolation=cv2.INTER_CUBIC)

    scores, seconds = [], []
    for first, middle, last in triplets(args.workspace):
        image0, image1 = frame(first), frame(last)
        start = time.perf_counter()
        made = engine.interpolate(image0, image1, [0.5])[0]
        seconds.append(time.perf_counter() - start)
        scores.append(psnr(made, frame(middle)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # MB (ru_maxrss is in KB on Linux)
    print(f"{args.weights} scale {args.scale} tile {args.tile}: PSNR {' '.join(f'{s:.2f}' for s in scores)}, "
          f"mean {np.mean(scores):.2f} dB; {statistics.median(seconds):.2f} s per frame; peak {peak:.0f} MB RSS")


if __name__ == "__main__":
    main()
