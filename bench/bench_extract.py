"""Speed of `framegen extract` against a bare ffmpeg decode + scale of the same movie.

    python bench/bench_extract.py [--movie ../shared/data/sample_movie.mp4] [--max-side 640] [--repeats 3]
                                  [--work DIR]

Measures, interleaved `--repeats` times, median of each:
- bare:     ffmpeg -i MOVIE -vf scale=W:H -f null -        (the issue's yardstick; W:H = extract's size)
- pipe:     the same, converted to RGB and piped out raw   (what extract's ffmpeg does, without PNGs)
- extract:  framegen.core.stages.extract.extract() in this process (decode + PNG frames + manifest)
- command:  `python -m framegen -q extract` as a new process (adds Python start-up and imports)
- png:      extract's PNG writing alone: the same frames, decoded beforehand and held in memory, encoded
            and written on a pool of extract's size (no ffmpeg)
- bare+png: bare and png at the same time, in two processes: what an extract that overlapped decoding and
            PNG writing perfectly, with no pipe between them, would take on this machine (a floor)
- ffmpeg-png: ffmpeg writing the PNG frames itself (`-vf scale=W:H DIR/%06d.png`), what a user might run
            instead of extract (no manifest; ffmpeg's own PNG encoder)
Wall seconds and CPU seconds (this process + ffmpeg) for each, and the ratios to bare, and the size of
the frames folder. Target (issue 2): extract within 1.15x of bare. On a shared machine compare the
CPU-second ratio too. Frames are written to a temporary folder inside --work (default: the system's
temporary folder): creating a file costs very different times on different file systems (about 1 ms in
/tmp of one VM where the same disk's other folders take 0.1 ms), so measure where frames would go.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from framegen import console
from framegen.core.media.ffmpeg import ffmpeg_binary
from framegen.core.media.images import encode_png_fast
from framegen.core.media.movie import probe_movie, working_size
from framegen.core.stages.extract import WORKERS, ExtractConfig, extract

REPO = Path(__file__).resolve().parents[1]


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (ffmpeg)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(run) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), cpu_seconds()
    run()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def decoded_frames(decode: list[str], width: int, height: int) -> np.ndarray:
    """Every frame of the movie at extract's size, uint8 (N, H, W, 3) RGB (about 0.4 GB for the sample)."""
    raw = subprocess.run([*decode, "-pix_fmt", "rgb24", "-f", "rawvideo", "-"], check=True, capture_output=True)
    return np.frombuffer(raw.stdout, np.uint8).reshape(-1, height, width, 3)


def write_pngs(frames: np.ndarray, folder: Path) -> None:
    """Extract's PNG work without the decoding: encode and write every frame on a pool of its size."""
    def write(number: int) -> None:
        (folder / f"{number:06d}.png").write_bytes(encode_png_fast(frames[number]))

    folder.mkdir()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(write, range(len(frames))))


def ffmpeg_pngs(decode: list[str], folder: Path) -> None:
    """ffmpeg's own PNG encoder writing the frames (what a user might run instead of extract)."""
    folder.mkdir()
    subprocess.run([*decode, str(folder / "%06d.png")], check=True)


def concurrently(command: list[str], run) -> None:
    process = subprocess.Popen(command)
    try:
        run()
    finally:
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--movie", type=Path, default=REPO.parent / "shared" / "data" / "sample_movie.mp4")
    parser.add_argument("--max-side", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, help="folder for the frames (default: the system's temporary folder)")
    args = parser.parse_args()
    console.setup(-1)  # no progress bars
    width, height = working_size(probe_movie(args.movie), args.max_side)
    decode = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(args.movie),
              "-vf", f"scale={width}:{height}"]
    frames_in_memory = decoded_frames(decode, width, height)
    bare = [*decode, "-f", "null", "-"]
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        out = Path(tmp)
        runs = {  # name -> run(folder): each run writes into a new folder, as a first extraction does
            "bare": lambda folder: subprocess.run(bare, check=True),
            "pipe": lambda folder: subprocess.run([*decode, "-pix_fmt", "rgb24", "-f", "rawvideo", "-"], check=True,
                                                  stdout=subprocess.DEVNULL),
            "extract": lambda folder: extract(args.movie, folder, ExtractConfig(max_side=args.max_side)),
            "command": lambda folder: subprocess.run([sys.executable, "-m", "framegen", "-q", "extract",
                                                      str(args.movie), "-o", str(folder), "--max-side",
                                                      str(args.max_side)], check=True, stdout=subprocess.DEVNULL),
            "png": lambda folder: write_pngs(frames_in_memory, folder),
            "bare+png": lambda folder: concurrently(bare, lambda: write_pngs(frames_in_memory, folder)),
            "ffmpeg-png": lambda folder: ffmpeg_pngs(decode, folder),
        }
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
        for _ in range(args.repeats):
            for name, run in runs.items():
                folder = out / name
                shutil.rmtree(folder, ignore_errors=True)
                times[name].append(timed(lambda: run(folder)))
        pngs = list((out / "extract").glob("*.png"))
        frames, megabytes = len(pngs), sum(png.stat().st_size for png in pngs) / 2**20
    wall = {name: statistics.median(t[0] for t in values) for name, values in times.items()}
    cpu = {name: statistics.median(t[1] for t in values) for name, values in times.items()}
    print(f"{args.movie.name}: {frames} frames at {width}x{height} in {out.parent}, median of {args.repeats}; "
          f"PNGs: {megabytes:.1f} MiB ({megabytes * 1024 / frames:.1f} KiB a frame)")
    for name in runs:
        print(f"  {name:10s} {wall[name]:6.2f} s wall ({wall[name] / wall['bare']:4.2f}x bare)  "
              f"{cpu[name]:6.2f} s CPU ({cpu[name] / cpu['bare']:4.2f}x bare)  {frames / wall[name]:6.0f} frames/s")
    print(f"extract / bare ffmpeg: {wall['extract'] / wall['bare']:.2f}x wall (target <= 1.15), "
          f"{cpu['extract'] / cpu['bare']:.2f}x CPU; the floor on this machine (bare+png): "
          f"{wall['bare+png'] / wall['bare']:.2f}x wall")


if __name__ == "__main__":
    main()
