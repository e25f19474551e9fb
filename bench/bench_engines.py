"""Speed of the interpolation engines: seconds per pair for 6 in-betweens, engine time only (no start-up).

    python bench/bench_engines.py [--checkpoint RUN/export] [--repeats 7] [--sizes 256x256,1920x1080]

Pairs: frames 990 and 997 of the sample movie (framegen/examples/a.png, b.png), centre-cropped to
256x256 and resized to 1920x1080. For each engine (blend, flow, and model when --checkpoint is given or
weights are bundled) and size: the median and the best wall time of `--repeats` runs, and the CPU time
(all threads) of one run. Target (issue 4): flow <= 0.15 s per pair at 256x256 on the 2-core CPU. On a
shared machine the best time is the one least disturbed by other processes.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from framegen.core.engines import bundled_weights, get_engine
from framegen.core.images import read_image

EXAMPLES = Path(__file__).resolve().parents[1] / "framegen" / "examples"
TIMES = [k / 7 for k in range(1, 7)]


def pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    a, b = read_image(EXAMPLES / "a.png"), read_image(EXAMPLES / "b.png")  # uint8 (270, 480, 3)
    h, w = a.shape[:2]
    top, left = (h - 256) // 2, (w - 256) // 2
    return {
        "256x256": (a[top:top + 256, left:left + 256].copy(), b[top:top + 256, left:left + 256].copy()),
        "1920x1080": tuple(cv2.resize(x, (1920, 1080), interpolation=cv2.INTER_CUBIC) for x in (a, b)),
    }


def measure(engine, a: np.ndarray, b: np.ndarray, repeats: int) -> tuple[float, float, float]:
    """(median wall s, best wall s, CPU s of one run) for one pair."""
    engine.interpolate(a, b, TIMES)  # warm-up (first-call allocations, lazy inits)
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        engine.interpolate(a, b, TIMES)
        walls.append(time.perf_counter() - start)
    cpu = time.process_time()
    engine.interpolate(a, b, TIMES)
    return statistics.median(walls), min(walls), time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, help="exported model for the `model` engine")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sizes", default="256x256,1920x1080", help="which of the two pair sizes to time")
    args = parser.parse_args()
    names = ["blend", "flow"]
    if args.checkpoint is not None or bundled_weights() is not None:
        names.append("model")
    print(f"seconds per pair, {len(TIMES)} in-betweens, median / best of {args.repeats} (CPU s of one run)")
    for size, (a, b) in pairs().items():
        if size not in args.sizes.split(","):
            continue
        for name in names:
            engine = get_engine(name, args.checkpoint if name == "model" else None)
            repeats = args.repeats if size == "256x256" else max(1, args.repeats // 2)
            median, best, cpu = measure(engine, a, b, repeats)
            print(f"{size:>10}  {name:6}  {median:7.3f} s  best {best:7.3f} s  (CPU {cpu:6.3f} s)", flush=True)


if __name__ == "__main__":
    main()
