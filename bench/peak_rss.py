"""Peak memory (RSS) of `framegen extract` + `filter` + `build-dataset` on a long 1080p movie (issue 5).

    python bench/peak_rss.py [--minutes 20] [--max-side 640] [--work DIR] [--keep]

The movie is made with ffmpeg's lavfi sources: five 30 s shots of different kinds at 1920x1080, 24 fps
(testsrc2, gradients, life, sierpinski, SMPTE HD bars: moving patterns, slow gradients, noise-like cells,
a jumping fractal, a still), x264 ultrafast, cycled with the concat demuxer up to MINUTES (a cut at every
shot boundary). The three stages then run as `python -m framegen -q ...` processes with their default
options (extract --max-side MAX_SIDE), each polled 4 times a second through /proc (Linux):
- framegen: the peak VmHWM of the framegen process itself;
- child:    the largest peak VmHWM of a process it started (ffmpeg);
- tree:     the largest sum of VmRSS over the framegen process and its children at one poll.
Prints seconds and those peaks per stage. Target: every stage under 2 GB (tests/test_memory.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from framegen.core.media.ffmpeg import ffmpeg_binary

REPO = Path(__file__).resolve().parents[1]
SHOT_SECONDS = 30
SHOTS = [  # lavfi sources, each made 1920x1080 at 24 fps (the slow ones rendered smaller and scaled up)
    "testsrc2=size=1920x1080:rate=24",
    "gradients=size=960x540:rate=24:speed=0.03:seed=3,scale=1920:1080",
    "life=size=480x270:rate=24:mold=10:ratio=0.2:seed=3,scale=1920:1080:flags=neighbor",
    "sierpinski=size=960x540:rate=24:seed=3,scale=1920:1080",
    "smptehdbars=size=1920x1080:rate=24",
]


@dataclass
class Peak:
    seconds: float
    framegen_mb: float
    child_mb: float
    tree_mb: float
    returncode: int


def make_movie(path: Path, minutes: float) -> Path:
    """A 1080p movie of `minutes`, cutting between the SHOTS every SHOT_SECONDS."""
    folder = path.parent
    shots = []
    for number, source in enumerate(SHOTS):
        shot = folder / f"shot{number}.mp4"
        subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source,
                        "-t", str(SHOT_SECONDS), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "26",
                        "-pix_fmt", "yuv420p", "-g", "48", str(shot)], check=True)
        shots.append(shot)
    count = round(minutes * 60 / SHOT_SECONDS)
    playlist = folder / "shots.txt"
    playlist.write_text("".join(f"file '{shots[i % len(shots)].name}'\n" for i in range(count)))
    subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
                    "-i", str(playlist), "-c", "copy", str(path)], check=True)
    for shot in shots:
        shot.unlink()
    playlist.unlink()
    return path


def children_of(pid: int) -> list[int]:
    """Every live descendant of `pid` (from /proc/*/stat parent ids)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def memory_kb(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) of `pid` in kB; zeros once it is gone."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        return int(fields["VmHWM"].split()[0]), int(fields["VmRSS"].split()[0])
    except (OSError, KeyError):
        return 0, 0


def run_polled(args: list[str], cwd: Path) -> Peak:
    """Run `python -m framegen -q ARGS` in `cwd`, polling its memory and its children's."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "framegen", "-q", *map(str, args)], cwd=cwd,
                               env={**os.environ, "PYTHONPATH": str(REPO)})
    own = child = tree = 0
    while process.poll() is None:
        hwm, rss = memory_kb(process.pid)
        own = max(own, hwm)
        total = rss
        for pid in children_of(process.pid):
            child_hwm, child_rss = memory_kb(pid)
            child = max(child, child_hwm)
            total += child_rss
        tree = max(tree, total)
        time.sleep(0.25)
    return Peak(time.perf_counter() - start, own / 1024, child / 1024, tree / 1024, process.returncode)


def measure(work: Path, minutes: float, max_side: int) -> dict[str, Peak]:
    """Make the movie in `work`, run the three stages there; their Peaks (stops at a failing stage)."""
    started = time.perf_counter()
    movie = make_movie(work / "long.mp4", minutes)
    peaks = {"make movie (ffmpeg)": Peak(time.perf_counter() - started, 0, 0, 0, 0)}
    for stage, args in (("extract", ["extract", movie, "-o", "frames", "--max-side", str(max_side)]),
                        ("filter", ["filter", "frames"]),
                        ("build-dataset", ["build-dataset", "frames", "-o", "dataset"])):
        peaks[stage] = run_polled(args, work)
        if peaks[stage].returncode != 0:
            break
    return peaks


def table(peaks: dict[str, Peak], label: str = "stage") -> str:
    width = max(20, *map(len, peaks))
    lines = [f"{label:<{width}} {'seconds':>8} {'framegen MB':>12} {'child MB':>9} {'tree MB':>8}  exit"]
    for stage, peak in peaks.items():
        lines.append(f"{stage:<{width}} {peak.seconds:8.0f} {peak.framegen_mb:12.0f} {peak.child_mb:9.0f} "
                     f"{peak.tree_mb:8.0f}  {peak.returncode}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--max-side", type=int, default=640)
    parser.add_argument("--work", type=Path, help="folder for the movie, frames and dataset (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="framegen-peak-rss-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        peaks = measure(work, args.minutes, args.max_side)
        print(f"{args.minutes:g} min of 1920x1080 at 24 fps, extract --max-side {args.max_side}:")
        print(table(peaks))
        frames = len(list((work / "frames").glob("*.png")))
        dataset = sum(f.stat().st_size for f in (work / "dataset").glob("*.npy")) / 1e9
        print(f"{frames} frames extracted; dataset arrays {dataset:.2f} GB")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
