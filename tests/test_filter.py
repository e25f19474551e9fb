"""`framegen filter`: cuts to the frame, held frames on twos and threes, manifests, the vgg16 detector."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torchvision
from helpers.media import moving_square_frames, write_video

from framegen.core import scenes
from framegen.core.formats.shots import FilterManifest
from framegen.core.manifest import read_manifest
from framegen.core.scenes import VGG_WINDOW, AnalysisFrame, FilterConfig, SceneDetector

CUTS = (30, 64)
TWOS = tuple(range(CUTS[0] + 1, CUTS[1], 2))  # the middle shot is on twos


def extracted(cli, tmp_path, name="frames", n=96, cuts=CUTS, held=TWOS) -> Path:
    """Extract a clip of the moving square, softened like drawn animation that was scaled down (the raw
    pixel-noise texture is the worst case for H.264: its repeated frames would differ by up to 13)."""
    frames = np.stack([cv2.GaussianBlur(f, (5, 5), 0) for f in moving_square_frames(n, cuts=cuts, held=held)])
    movie = write_video(tmp_path / f"{name}.mp4", frames)
    code, _, err = cli("extract", movie, "-o", name)
    assert code == 0, err
    return Path(name)


def precision_recall(found: list[int], truth: tuple[int, ...]) -> tuple[float, float]:
    hits = len(set(found) & set(truth))
    return hits / max(1, len(found)), hits / max(1, len(truth))


def test_cuts_shots_and_held_frames(cli, tmp_path):
    frames = extracted(cli, tmp_path)
    code, out, err = cli("filter", frames)
    assert code == 0, err
    assert "2 cuts" in out and str(frames / "filter.json") in out
    manifest = read_manifest(FilterManifest, frames, "filter.json")
    assert manifest.cuts == list(CUTS)
    assert [(s.first, s.last, s.timing) for s in manifest.shots] == [(0, 29, 1), (30, 63, 2), (64, 95, 1)]
    precision, recall = precision_recall(manifest.held_frames, TWOS)
    print(f"held frames: precision {precision:.3f} recall {recall:.3f}")
    assert (precision, recall) == (1.0, 1.0)
    assert manifest.upstream.path == "manifest.json"
    with open(frames / "filter_scores.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["source_index"]) for r in rows] == list(range(96))
    assert [int(r["source_index"]) for r in rows if r["cut"] == "1"] == list(CUTS)
    assert [int(r["source_index"]) for r in rows if r["held"] == "1"] == list(TWOS)
    cut_scores = [float(r["cut_score"]) for r in rows]
    assert min(cut_scores[c] for c in CUTS) > 3 * max(s for i, s in enumerate(cut_scores) if i not in CUTS)


def test_threes_and_a_still_on_ones(cli, tmp_path):
    """A shot on threes; a shot on ones whose square stops (repeated frames there are a still, not holds)."""
    threes = tuple(i for i in range(1, 40) if i % 3)
    still = tuple(range(52, 72))
    frames = extracted(cli, tmp_path, n=72, cuts=(40,), held=threes + still)
    assert cli("filter", frames)[0] == 0
    manifest = read_manifest(FilterManifest, frames, "filter.json")
    assert manifest.cuts == [40]
    assert [s.timing for s in manifest.shots] == [3, 1]
    assert manifest.held_frames == list(threes)


def test_rerun_needs_overwrite(cli, tmp_path):
    frames = extracted(cli, tmp_path, n=24, cuts=(), held=())
    assert cli("filter", frames)[0] == 0
    code, _, err = cli("filter", frames)
    assert code == 2 and "--overwrite" in err
    assert cli("filter", frames, "--overwrite", "--ratio-window", "5")[0] == 0
    assert read_manifest(FilterManifest, frames, "filter.json").parameters["ratio_window"] == 5


def test_overwrite_keeps_the_earlier_result_when_a_frame_is_unreadable(cli, tmp_path):
    frames = extracted(cli, tmp_path, n=24, cuts=(), held=())
    assert cli("filter", frames)[0] == 0
    before = (frames / "filter.json").read_bytes()
    broken = sorted(frames.glob("*.png"))[10]
    broken.write_bytes(broken.read_bytes()[:100])  # a truncated PNG
    code, _, err = cli("filter", frames, "--overwrite")
    assert code == 3 and len(err.strip().splitlines()) == 1
    assert (frames / "filter.json").read_bytes() == before


def test_default_folder(cli, tmp_path):
    code, _, err = cli("filter")
    assert code == 3 and "framegen-work/frames" in err
    movie = write_video(tmp_path / "m.mp4", moving_square_frames(24))
    assert cli("extract", movie)[0] == 0
    code, out, _ = cli("filter")
    assert code == 0 and "framegen-work/frames/filter.json" in out


def test_detectors_fed_one_frame_at_a_time():
    """The detectors on frames from memory (as video mode feeds them from its pipe): exact repeats."""
    frames = moving_square_frames(60, cuts=(30,), held=tuple(range(31, 60, 2)))
    detector = SceneDetector(FilterConfig())
    for frame in frames:
        detector.process_frame(AnalysisFrame.of(frame))
    found = detector.post_process()
    assert found.cuts == [30] and found.spans == [(0, 30), (30, 60)] and found.timings == [1, 2]
    assert found.held == list(range(31, 60, 2))
    assert found.cut_scores.shape == found.changes.shape == found.moved.shape == (60,)
    assert found.cut_scores[30] > 3 * max(np.delete(found.cut_scores, 30))


@pytest.mark.parametrize("n, spans", [
    (15, [(0, 8)]),  # the last frame ends the second window
    (17, [(0, 8), (14, 17)]),  # ... ends a short third window
    (66, [(0, 8), (14, 66)]),  # 11 frames embedded: two batches
])
def test_vgg_detector_compares_the_ends_of_every_window(monkeypatch, n, spans):
    """Fed one frame at a time, the vgg16 detector embeds the frames at 0, 7, 14, ... and the last one,
    in batches, and drops the windows whose two ends differ (here: the windows across frame 10)."""
    batches = []

    def fake_network(weights):
        def embed(images):
            batches.append([int(image[0, 0, 0]) for image in images])
            return np.array([[1.0, 0.0] if image[0, 0, 0] < 10 else [0.0, 1.0] for image in images])
        return embed

    monkeypatch.setattr(scenes, "vgg16_features", fake_network)
    detector = SceneDetector(FilterConfig(detector="vgg16"))
    for position in range(n):
        detector.process_frame(AnalysisFrame.of(np.full((16, 16, 3), position, np.uint8)))
    found = detector.post_process()
    step = VGG_WINDOW - 1
    assert [p for batch in batches for p in batch] == sorted(set(range(0, n, step)) | {n - 1})
    assert max(len(batch) for batch in batches) <= scenes.VGG_BATCH and (n < 66 or len(batches) == 2)
    assert found.spans == spans  # the window 7-14 is dropped
    assert found.cuts == [start for start, _ in spans[1:]]


def edit_manifest(folder: Path, change) -> None:
    path = folder / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_bad_frames_manifests_exit_3(cli, tmp_path):
    frames = extracted(cli, tmp_path, n=24, cuts=(), held=())
    original = (frames / "manifest.json").read_text()
    cases = {
        "schema_version": lambda m: m.update(schema_version=99),
        "outside its folder": lambda m: m["frames"][3].update(file="../../etc/passwd"),
        "expected a framegen/frames manifest": lambda m: m.update(schema="framegen/dataset"),
    }
    for message, change in cases.items():
        (frames / "manifest.json").write_text(original)
        edit_manifest(frames, change)
        code, _, err = cli("filter", frames)
        assert code == 3 and message in err and len(err.strip().splitlines()) == 1, err
    (frames / "manifest.json").unlink()
    code, _, err = cli("filter", frames)
    assert code == 3 and "run `framegen extract` first" in err


@pytest.fixture(scope="module")
def vgg_weights(tmp_path_factory) -> Path:
    """A torchvision VGG16 state_dict with random weights, written the way torchvision's cache holds one."""
    path = tmp_path_factory.mktemp("weights") / "vgg16-random.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.vgg16(weights=None).state_dict(), path)
    return path


def test_vgg16_without_weights_says_how_to_get_them(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    frames = extracted(cli, tmp_path, n=16, cuts=(), held=())
    code, _, err = cli("filter", frames, "--detector", "vgg16")
    assert code == 3 and len(err.strip().splitlines()) == 1
    assert "vgg16-397923af.pth" in err and "--vgg-weights" in err
    code, _, err = cli("filter", frames, "--detector", "vgg16", "--vgg-weights", tmp_path / "nope.pth")
    assert code == 3 and "no such" in err
    # a refused --overwrite keeps the earlier result
    assert cli("filter", frames)[0] == 0
    before = (frames / "filter.json").read_bytes()
    code, _, err = cli("filter", frames, "--detector", "vgg16", "--overwrite")
    assert code == 3 and (frames / "filter.json").read_bytes() == before


def test_vgg16_rejects_files_that_are_not_vgg16_weights(cli, tmp_path):
    frames = extracted(cli, tmp_path, n=16, cuts=(), held=())
    (tmp_path / "text.pth").write_text("not weights")
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "resnet.pth")
    for name, message in (("text.pth", "not a readable"), ("resnet.pth", "does not hold")):
        code, _, err = cli("filter", frames, "--detector", "vgg16", "--vgg-weights", tmp_path / name)
        assert code == 3 and message in err, err


def test_vgg16_detector_with_a_weights_file(cli, tmp_path, vgg_weights):
    frames = extracted(cli, tmp_path, n=10, cuts=(), held=())  # windows [0, 7] and [7, 9]
    code, _, err = cli("filter", frames, "--detector", "vgg16", "--vgg-weights", vgg_weights,
                       "--vgg-threshold", "2")  # cosine distance <= 2 always: every window is kept
    assert code == 0, err
    manifest = read_manifest(FilterManifest, frames, "filter.json")
    assert manifest.detector == "vgg16" and manifest.cuts == []
    assert [(s.first, s.last) for s in manifest.shots] == [(0, 9)]
    assert manifest.parameters["vgg_weights"] == str(vgg_weights)
    code, _, err = cli("filter", frames, "--detector", "vgg16", "--vgg-weights", vgg_weights,
                       "--vgg-threshold", "1e-6", "--overwrite")  # every window differs: all dropped
    assert code == 0, err
    assert read_manifest(FilterManifest, frames, "filter.json").shots == []
