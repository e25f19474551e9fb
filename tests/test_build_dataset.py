"""`framegen build-dataset`: windows of distinct drawings inside shots, static windows dropped, centre
crop, split by shot, and refusal of inconsistent inputs."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from helpers.media import moving_square_frames, write_video

from framegen.core.formats.dataset import DatasetManifest, DatasetWriter, WindowDataset, WindowInfo, open_split
from framegen.core.formats.shots import FilterManifest
from framegen.core.manifest import read_manifest
from framegen.core.media.convert import windows_to_float
from framegen.core.media.images import read_png_fast
from framegen.core.stages.build_dataset import square

CUTS = (40, 80, 100)
TWOS = tuple(range(41, 80, 2))  # shot 1 is on twos
STILL = tuple(range(101, 140))  # shot 3 does not move


def filtered(cli, tmp_path, n=140, cuts=CUTS, held=TWOS + STILL) -> Path:
    """A clip extracted and filtered into ./frames (soft edges: see test_filter.extracted)."""
    frames = np.stack([cv2.GaussianBlur(f, (5, 5), 0) for f in moving_square_frames(n, cuts=cuts, held=held)])
    movie = write_video(tmp_path / "clip.mp4", frames)
    assert cli("extract", movie, "-o", "frames")[0] == 0
    code, _, err = cli("filter", "frames")
    assert code == 0, err
    return Path("frames")


def test_windows_hold_distinct_drawings_of_one_shot(cli, tmp_path):
    frames = filtered(cli, tmp_path)
    code, out, err = cli("build-dataset", frames, "-o", "data", "--size", "64", "--stride", "4")
    assert code == 0, err
    assert "data" in out
    scenes = read_manifest(FilterManifest, frames, "filter.json")
    held = set(scenes.held_frames)
    shots = [(shot.first, shot.last) for shot in scenes.shots]
    manifest, train = open_split(Path("data"), "train")
    _, val = open_split(Path("data"), "val")
    assert train.shape[1:] == val.shape[1:] == (8, 64, 64, 3)
    windows = manifest.splits["train"].windows + manifest.splits["val"].windows
    per_shot = {}
    for window in windows:
        first, last = shots[int(window.shot.removeprefix("shot"))]
        assert all(first <= f <= last for f in window.frames), window  # never across a cut
        assert not held & set(window.frames), window  # never a held frame
        assert window.frames == sorted(window.frames)
        per_shot[window.shot] = per_shot.get(window.shot, 0) + 1
    # shot 0: 40 drawings -> windows at 0, 4, ..., 32; shot 1 (on twos): 20 drawings -> 0, 4, 8, 12;
    # shot 2: 20 frames -> 4 windows; shot 3 is a still: no window
    assert per_shot == {"shot000": 9, "shot001": 4, "shot002": 4}
    twos = next(w for w in windows if w.shot == "shot001")
    assert twos.frames == list(range(40, 56, 2))
    train_shots, val_shots = set(manifest.splits["train"].shots), set(manifest.splits["val"].shots)
    assert train_shots and val_shots and not train_shots & val_shots


def test_frames_are_the_centre_square_resized(cli, tmp_path):
    frames = filtered(cli, tmp_path, n=24, cuts=(), held=())
    assert cli("build-dataset", frames, "-o", "data", "--size", "48", "--val-fraction", "0")[0] == 0
    manifest, train = open_split(Path("data"), "train")
    window = manifest.splits["train"].windows[1]
    png = read_png_fast(frames / f"{window.frames[2]:06d}.png")  # 96x128: the middle 96x96, resized
    assert np.array_equal(train[1, 2], cv2.resize(png[:, 16:112], (48, 48), interpolation=cv2.INTER_AREA))
    assert np.array_equal(square(png, 48), train[1, 2])
    assert manifest.kind == "movie" and manifest.splits["val"].windows == []
    assert manifest.upstream.path.endswith("frames/filter.json")


def test_split_is_seeded_and_keeps_at_least_one_val_shot(cli, tmp_path):
    frames = filtered(cli, tmp_path)
    splits = []
    for seed in (1, 1, 2, 3, 4):
        assert cli("build-dataset", frames, "-o", "data", "--size", "16", "--seed", seed, "--val-fraction", "0.01",
                   "--overwrite")[0] == 0
        manifest = json.loads(Path("data", "manifest.json").read_text())
        splits.append(tuple(manifest["splits"]["val"]["shots"]))
        assert len(splits[-1]) == 1 and manifest["splits"]["train"]["shots"]
    assert splits[0] == splits[1] and len(set(splits)) > 1


def test_reads_back_through_the_torch_dataset(cli, tmp_path):
    frames = filtered(cli, tmp_path, n=48, cuts=(24,), held=())
    assert cli("build-dataset", frames, "-o", "data", "--size", "32")[0] == 0
    dataset = WindowDataset(Path("data"), "train", crop=24, augment=True)
    item = dataset[0]
    assert item.shape == (8, 3, 24, 24) and item.dtype == torch.uint8
    frames = windows_to_float(torch.stack([item, item]))
    assert frames.dtype == torch.float32 and 0 <= frames.min() and frames.max() <= 1


def test_defaults_read_and_write_the_workspace(cli, tmp_path):
    movie = write_video(tmp_path / "m.mp4", moving_square_frames(40, cuts=(20,)))
    assert cli("extract", movie)[0] == 0 and cli("filter")[0] == 0
    code, out, err = cli("build-dataset", "--size", "16")
    assert code == 0, err
    assert "framegen-work/dataset" in out and Path("framegen-work", "dataset", "manifest.json").exists()


def test_no_window_is_one_line_exit_3(cli, tmp_path):
    frames = filtered(cli, tmp_path, n=14, cuts=(), held=tuple(range(1, 14, 2)))  # on twos: 7 drawings
    code, _, err = cli("build-dataset", frames, "-o", "data")
    assert code == 3 and "no window of 8" in err and "7 drawings" in err and len(err.strip().splitlines()) == 1
    assert not Path("data").exists()


def test_refuses_changed_or_bad_manifests(cli, tmp_path):
    frames = filtered(cli, tmp_path, n=48, cuts=(24,), held=())
    filter_json = (frames / "filter.json").read_text()
    frames_json = (frames / "manifest.json").read_text()

    (frames / "manifest.json").write_text(frames_json.replace('"frame_count": 48', '"frame_count": 48 '))
    code, _, err = cli("build-dataset", frames, "-o", "data")
    assert code == 3 and "sha256" in err  # the frames changed after filter ran
    (frames / "manifest.json").write_text(frames_json)

    cases = {"schema_version": ('"schema_version": 1', '"schema_version": 7'),
             "outside its folder": ('"scores_file": "filter_scores.csv"', '"scores_file": "../../x.csv"')}
    for message, (old, new) in cases.items():
        (frames / "filter.json").write_text(filter_json.replace(old, new))
        code, _, err = cli("build-dataset", frames, "-o", "data")
        assert code == 3 and message in err and len(err.strip().splitlines()) == 1, err
    (frames / "filter.json").unlink()
    code, _, err = cli("build-dataset", frames, "-o", "data")
    assert code == 3 and "framegen/filter" in err


def test_non_empty_output_needs_overwrite(cli, tmp_path):
    frames = filtered(cli, tmp_path, n=48, cuts=(24,), held=())
    assert cli("build-dataset", frames, "-o", "data", "--size", "32")[0] == 0
    code, _, err = cli("build-dataset", frames, "-o", "data")
    assert code == 2 and "--overwrite" in err
    assert cli("build-dataset", frames, "-o", "data", "--size", "16", "--overwrite")[0] == 0
    assert read_manifest(DatasetManifest, Path("data")).width == 16


@pytest.mark.parametrize("option", [("--size", "8"), ("--val-fraction", "1"), ("--stride", "0")])
def test_bad_options_exit_2(cli, tmp_path, option):
    frames = filtered(cli, tmp_path, n=24, cuts=(), held=())
    assert cli("build-dataset", frames, "-o", "data", *option)[0] == 2


def test_a_failed_reservation_or_run_leaves_no_split_file(cli, tmp_path, monkeypatch):
    """The disk fills while the split files are reserved: exit 3, one line naming the user's file (not a
    temporary one), and the reserved files are gone; a writer that fails later removes its files too."""
    frames = filtered(cli, tmp_path, n=48, cuts=(24,), held=())

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(os, "posix_fallocate", full, raising=False)
        code, _, err = cli("-q", "build-dataset", frames, "-o", "data", "--size", "16")
    assert code == 3 and len(err.strip().splitlines()) == 1, err
    assert "data/train.npy: No space left on device" in err and ".tmp" not in err, err
    assert not Path("data").exists()
    with pytest.raises(RuntimeError):
        with DatasetWriter(Path(tmp_path), {"train": 2, "val": 1}, 8, 16, 16) as writer:
            writer.add("train", np.zeros((8, 16, 16, 3), np.uint8), WindowInfo(shot="a", frames=list(range(8))))
            raise RuntimeError("a failure half-way")
    assert not list(tmp_path.glob("*.npy"))
