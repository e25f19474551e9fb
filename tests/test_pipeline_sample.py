"""extract -> filter -> build-dataset on the shared sample movie, checked against its ground truth JSON.

Runs with the default workspace (no folders named), as the user's own examples do.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from framegen.core.formats.dataset import open_split
from framegen.core.formats.frames import FramesManifest
from framegen.core.formats.shots import FilterManifest
from framegen.core.manifest import read_manifest

pytestmark = pytest.mark.e2e

WORK = Path("framegen-work")


def test_three_stages_on_the_sample_movie(cli, sample_movie):
    truth = json.loads(sample_movie.with_suffix(".json").read_text())
    seconds = {}
    for stage, args in (("extract", [sample_movie]), ("filter", []), ("build-dataset", [])):
        start = time.perf_counter()
        code, out, err = cli(stage, *args)
        seconds[stage] = time.perf_counter() - start
        assert code == 0, (stage, err)
        assert "framegen-work/" in out, out
    print("stage seconds: " + ", ".join(f"{stage} {s:.1f}" for stage, s in seconds.items()))

    frames = read_manifest(FramesManifest, WORK / "frames")
    assert (frames.frame_count, frames.width, frames.height, frames.fps) == (truth["frames"], 480, 270, "24/1")
    assert [f.source_index for f in frames.frames] == list(range(truth["frames"]))

    scenes = read_manifest(FilterManifest, WORK / "frames", "filter.json")
    assert scenes.cuts == truth["cuts"]  # every cut, to the frame, and nothing else
    found, held = set(scenes.held_frames), set(truth["held_frames"])
    precision, recall = len(found & held) / max(1, len(found)), len(found & held) / len(held)
    print(f"held frames: {len(found)} found, precision {precision:.3f}, recall {recall:.3f}")
    assert (precision, recall) == (1.0, 1.0)
    assert [shot.timing for shot in scenes.shots] == [2 if s["on_twos"] else 1 for s in truth["segments"]]

    segment_of = {}
    for segment in truth["segments"]:
        segment_of.update({i: segment["name"] for i in range(segment["start"], segment["end"])})
    manifest, train = open_split(WORK / "dataset", "train")
    _, val = open_split(WORK / "dataset", "val")
    assert train.shape[1:] == val.shape[1:] == (8, 256, 256, 3)
    assert len(val) > 0 and len(train) > len(val)
    shot_segments = {}
    for split in ("train", "val"):
        for window in manifest.splits[split].windows:
            segments = {segment_of[f] for f in window.frames}
            assert len(segments) == 1, window  # crosses no cut
            assert not held & set(window.frames), window  # holds no held frame
            shot_segments.setdefault(split, set()).update(segments)
    assert not shot_segments["train"] & shot_segments["val"]  # no shot in both splits
    print(f"windows: {len(train)} train, {len(val)} val; val shots {sorted(shot_segments['val'])}")
