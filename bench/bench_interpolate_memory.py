"""Peak memory (RSS) of `framegen interpolate` as the number of frames grows (issue 16, point 5).

    python bench/bench_interpolate_memory.py [--movie sample_movie.mp4] [--engine flow] [--work DIR]

Runs `python -m framegen -q interpolate ...` as a child process polled through /proc (bench/peak_rss.py's
`run_polled`: framegen = the peak VmHWM of the framegen process, child = its largest ffmpeg's, tree = the
largest sum of both at one poll) for:
- a 1920x1080 pair (two frames of a moving textured square, drawn with numpy) with --frames 6 and
  --frames 120, written as a GIF and as an MP4;
- video mode on MOVIE (default: the sample movie, when it is there) at --factor 2 and --factor 8, as MP4.
Target: every run under 1.5 GB (tree), and a peak that does not grow with the number of frames.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import peak_rss  # beside this script (python puts the script's folder first on sys.path)

REPO = Path(__file__).resolve().parents[1]
SAMPLE = Path(os.environ.get("FRAMEGEN_SHARED_DATA", REPO.parent / "shared" / "data")) / "sample_movie.mp4"
LIMIT_MB = 1536


def write_pair(folder: Path, width: int = 1920, height: int = 1080) -> tuple[Path, Path]:
    """Two frames, uint8 (H, W, 3): a textured square moved by 1/20 of the width over a textured background."""
    from framegen.core.media.images import write_png

    rng = np.random.default_rng(0)
    background = rng.integers(40, 200, (height // 8, width // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    square = rng.integers(0, 256, (height // 4, height // 4, 3), dtype=np.uint8)
    paths = []
    for index, left in enumerate((width // 4, width // 4 + width // 20)):
        frame = background.copy()
        frame[height // 3:height // 3 + square.shape[0], left:left + square.shape[1]] = square
        paths.append(folder / f"{'ab'[index]}.png")
        write_png(paths[-1], frame)
    return paths[0], paths[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--movie", type=Path, default=SAMPLE)
    parser.add_argument("--engine", default="flow")
    parser.add_argument("--work", type=Path, help="folder for the inputs and outputs (default: a temp folder)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="framegen-interpolate-rss-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        a, b = write_pair(work)
        runs = {}
        for frames in (6, 120):
            for suffix in (".gif", ".mp4"):
                runs[f"1920x1080 pair, --frames {frames}, {suffix}"] = [
                    "interpolate", a, b, "--frames", frames, "--engine", args.engine, "-o", f"pair{frames}{suffix}"]
        if args.movie.is_file():
            for factor in (2, 8):
                runs[f"{args.movie.name} --factor {factor}"] = [
                    "interpolate", args.movie, "--factor", factor, "--engine", args.engine, "-o", f"movie{factor}.mp4"]
        else:
            print(f"{args.movie}: not found, video mode not measured")
        peaks = {name: peak_rss.run_polled(command, work) for name, command in runs.items()}
        print(f"interpolate, {args.engine} engine, peak RSS (limit {LIMIT_MB} MB):")
        print(peak_rss.table(peaks, label="run"))
        over = [name for name, peak in peaks.items() if peak.tree_mb >= LIMIT_MB or peak.returncode != 0]
        print("all under the limit" if not over else f"over the limit or failed: {', '.join(over)}")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
