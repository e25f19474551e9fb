"""Peak memory: `interpolate` does not grow with the number of frames (fast, always run); and, under load,
extract + filter + build-dataset of a 20-minute 1080p movie keep peak RSS under 2 GB.

The interpolate test reads the peak RSS of a child process (getrusage of a fresh wrapper process whose only
child is framegen: the largest peak of framegen and of the ffmpeg it runs), no cgroup needed.

Slow (about half an hour on 2 cores, ~15 GB of scratch disk), so not run by default or in CI:
    python -m pytest -m slow tests/test_memory.py -s
The work is bench/peak_rss.py's (the same numbers, printed as a table): the movie is made from ffmpeg lavfi
sources with a cut every 30 s; extract runs with --max-side 640 (the default: 640x360 frames, enough for
build-dataset's 256 px windows), filter and build-dataset with their defaults.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.media import moving_square_frames
from helpers.paths import REPO

from framegen.core.media.images import write_png

LIMIT_MB = 2048


def peak_rss_bench():
    spec = importlib.util.spec_from_file_location("peak_rss", REPO / "bench" / "peak_rss.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak memory from /proc")
def test_20_minute_1080p_movie_keeps_peak_rss_under_2_gb(tmp_path):
    bench = peak_rss_bench()
    try:
        peaks = bench.measure(tmp_path, minutes=20, max_side=640)
        print("\n" + bench.table(peaks))
        assert list(peaks) == ["make movie (ffmpeg)", "extract", "filter", "build-dataset"]
        for stage, peak in peaks.items():
            assert peak.returncode == 0, stage
            assert peak.framegen_mb < LIMIT_MB and peak.tree_mb < LIMIT_MB, (stage, peak)
        assert len(list((tmp_path / "frames").glob("*.png"))) == 20 * 60 * 24
    finally:  # gigabytes of frames and windows
        for folder in ("frames", "dataset"):
            shutil.rmtree(tmp_path / folder, ignore_errors=True)


def peak_rss_mb(args: list, cwd: Path) -> float:
    """Peak RSS (MB) of `python -m framegen ARGS` and its children, read by a wrapper from getrusage."""
    wrapper = ("import resource, subprocess, sys; "
               "code = subprocess.run([sys.executable, '-m', 'framegen', '-q', *sys.argv[1:]]).returncode; "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if code == 0 else -code)")
    done = subprocess.run([sys.executable, "-c", wrapper, *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    peak_kb = int(done.stdout.strip().splitlines()[-1])
    assert peak_kb > 0, done.stderr
    return peak_kb / 1024


def test_interpolate_peak_memory_does_not_grow_with_the_number_of_frames(tmp_path):
    frames = moving_square_frames(8, size=(120, 160))
    write_png(tmp_path / "a.png", frames[0])
    write_png(tmp_path / "b.png", frames[7])
    peaks = {count: peak_rss_mb(["interpolate", "a.png", "b.png", "--engine", "blend", "--frames", count,
                                 "--frames-dir", f"frames{count}", "-o", f"out{count}.gif"], tmp_path)
             for count in (10, 400)}
    # holding 400 frames of 160x120 (uint8 and float) would take about 115 MB more
    assert peaks[400] - peaks[10] < 40, peaks
    assert len(list((tmp_path / "frames400").glob("*.png"))) == 402
