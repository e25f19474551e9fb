"""Under load: extract + filter + build-dataset of a 20-minute 1080p movie keep peak RSS under 2 GB.

Slow (about half an hour on 2 cores, ~15 GB of scratch disk), so not run by default or in CI:
    python -m pytest -m slow tests/test_memory.py -s
The work is bench/peak_rss.py's (the same numbers, printed as a table): the movie is made from ffmpeg lavfi
sources with a cut every 30 s; extract runs with --max-side 640 (the default: 640x360 frames, enough for
build-dataset's 256 px windows), filter and build-dataset with their defaults.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from conftest import REPO

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
