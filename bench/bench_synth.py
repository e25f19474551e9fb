"""Speed of `framegen synth`: windows per second on one core and on every core, and the dataset's size.

    python bench/bench_synth.py [--windows 400] [--size 256] [--length 8] [--textures DIR]

Measures, in one run:
- rendering only, one process with OpenCV on one thread: windows/s of wall time and per CPU-second
  (the second is what one core gives when the machine is shared with other work);
- `write_synth_dataset` end to end (render + write the dataset) in this process and with a worker per
  core; the workers' one-time start-up (a forkserver importing framegen and torch) is timed apart.
Target (issue 6): at least 50 windows of 8x256x256 per second on one core.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2

from framegen import console
from framegen.core.stages.synth import Scene, SynthConfig, load_textures, write_synth_dataset
from framegen.core.stages.synth.writer import available_cores


def render_only(config: SynthConfig, textures: list) -> tuple[float, float]:
    """(windows per wall second, windows per CPU second) rendering in this process on one thread."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    wall, cpu = time.perf_counter(), time.process_time()
    for index in range(config.windows):
        Scene(config, textures, index).render_window()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    cv2.setNumThreads(threads)
    return config.windows / wall, config.windows / cpu


def end_to_end(config: SynthConfig, workers: int, root: Path) -> tuple[float, int]:
    """(windows per wall second, bytes written) for the whole stage with `workers` processes."""
    folder = root / f"workers-{workers}"
    start = time.perf_counter()
    write_synth_dataset(config.model_copy(update={"workers": workers}), folder)
    seconds = time.perf_counter() - start
    return config.windows / seconds, sum(p.stat().st_size for p in folder.iterdir())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--windows", type=int, default=400)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--length", type=int, default=8)
    parser.add_argument("--motion", default="mixed")
    parser.add_argument("--textures", type=Path)
    args = parser.parse_args()
    console.setup(-1)  # no progress bars
    config = SynthConfig(windows=args.windows, size=args.size, length=args.length, motion=args.motion,
                         textures=args.textures)
    textures = load_textures(args.textures) if args.textures else []
    cores = available_cores()
    shape = f"{args.windows} windows of {args.length}x{args.size}x{args.size}, motion {args.motion}, " \
            f"textures {args.textures or 'procedural'}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"bench_synth: {shape}; {cores} cores, load average {load:.1f} (other work slows the wall times)")

    wall, cpu = render_only(config, textures)
    print(f"render only, 1 core:        {wall:7.1f} windows/s wall   {cpu:7.1f} windows per CPU-second "
          f"({1000 / cpu:.1f} ms CPU per window; target >= 50 windows/s)")
    with tempfile.TemporaryDirectory(dir=".") as root:
        one, size_bytes = end_to_end(config, 1, Path(root))
        print(f"synth end to end, 1 process: {one:6.1f} windows/s")
        if cores > 1:
            start = time.perf_counter()  # the first pool starts a forkserver that imports framegen (torch)
            write_synth_dataset(SynthConfig(windows=4 * cores, size=32, workers=cores), Path(root) / "warm-up")
            print(f"worker start-up:            {time.perf_counter() - start:7.1f} s (once per process, not counted "
                  "below)")
            many, _ = end_to_end(config, cores, Path(root))
            print(f"synth end to end, {cores} workers: {many:7.1f} windows/s ({many / one:.2f}x one worker)")
    print(f"dataset size: {size_bytes / args.windows * 1000 / 1e9:.2f} GB per 1000 windows "
          "(uncompressed uint8 .npy)")


if __name__ == "__main__":
    main()
