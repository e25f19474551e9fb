"""Cost of `interpolate MOVIE --adapt`: the same command with and without it, side by side in one run.

    python bench/bench_adapt.py ../shared/data/sample_movie.mp4 [--checkpoint rife4] [--adapt-steps N] [--end S]

Runs `python -m framegen -q interpolate MOVIE --factor 2 --engine model --checkpoint NAME -o OUT.mp4`, then the
same with `--adapt` (and the adaptation options given), each as its own process polled for memory
(bench/peak_rss.py), and prints the wall time of each, their ratio, and the peak memory of each process.
Target: the ratio at most 3 on the 2-core CPU for the sample movie with the default settings.

    python bench/bench_adapt.py --memory [--checkpoint rife4]

measures instead what one adaptation step holds, per pixel of its crops: the peak RSS of a process after
steps on 2 x 128^2 and on 4 x 256^2 crops (each in its own process), the growth divided by the pixels
added; training/adapt.py's STEP_BYTES_PER_PIXEL comes from it.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from peak_rss import run_polled


def step_peak_mb(checkpoint: str, crop: int, batch: int) -> float:
    """Peak RSS (MB) of this process after two adaptation steps on `batch` crops of `crop` px."""
    from framegen.core.engines import get_engine
    from framegen.core.training.adapt import CropPool, ShotAdapter
    from framegen.core.training.adapt_config import AdaptConfig

    engine = get_engine("model", checkpoint, "cpu")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (270, 480, 3), dtype=np.uint8) for _ in range(8)]
    config = AdaptConfig(steps=2, crop=crop, batch=batch)
    with ShotAdapter(engine.generator, config, engine.device).adapted(CropPool.collect(iter(frames), 8, config, rng), 8):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory(checkpoint: str) -> None:
    peaks = {}
    for crop, batch in ((128, 2), (256, 4)):
        code = f"import bench_adapt; print(bench_adapt.step_peak_mb({checkpoint!r}, {crop}, {batch}))"
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             cwd=Path(__file__).parent)
        peaks[crop, batch] = float(run.stdout.split()[-1])
        print(f"{checkpoint}: {batch} x {crop}^2 crops: peak {peaks[crop, batch]:.0f} MB")
    pixels = 4 * 256**2 - 2 * 128**2
    print(f"{checkpoint}: {(peaks[256, 4] - peaks[128, 2]) * 2**20 / pixels / 1000:.1f} KB per crop pixel of a step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("movie", type=Path, nargs="?")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--checkpoint", default="rife4")
    parser.add_argument("--adapt-steps", type=int)
    parser.add_argument("--end", type=float)
    args = parser.parse_args()
    if args.memory:
        return memory(args.checkpoint)
    if args.movie is None:
        parser.error("give a MOVIE (or --memory)")
    base = ["interpolate", args.movie.resolve(), "--factor", "2", "--engine", "model", "--checkpoint", args.checkpoint,
            "--device", "cpu", *(["--end", str(args.end)] if args.end else [])]
    adapt = ["--adapt", *(["--adapt-steps", str(args.adapt_steps)] if args.adapt_steps else [])]
    with tempfile.TemporaryDirectory() as work:
        plain = run_polled([*base, "-o", "plain.mp4"], Path(work))
        adapted = run_polled([*base, *adapt, "-o", "adapted.mp4"], Path(work))
    for label, peak in (("without --adapt", plain), ("with --adapt", adapted)):
        print(f"{label:16} {peak.seconds:7.1f} s  peak {peak.framegen_mb:6.0f} MB (framegen), "
              f"{peak.tree_mb:6.0f} MB (with ffmpeg)  exit {peak.returncode}")
    print(f"ratio {adapted.seconds / plain.seconds:.2f} ({args.checkpoint}, {' '.join(map(str, adapt))})")


if __name__ == "__main__":
    main()
