"""`framegen synth`: exact ground truth, determinism, options, and the dataset format it writes."""

from __future__ import annotations

import errno
import filecmp
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from framegen.core.formats.dataset import WindowDataset, open_split
from framegen.core.media.convert import windows_to_float
from framegen.core.media.images import write_png
from framegen.core.stages.synth import TRAVEL, Scene, SynthConfig, SynthDataset, load_textures


def synth(cli, folder: str, *options: str) -> tuple[np.ndarray, np.ndarray]:
    """Run `framegen synth` at 64x64 and return the (train, val) arrays."""
    code, out, err = cli("synth", "-o", folder, "--size", "64", *options)
    assert code == 0, err
    assert folder in out
    return open_split(Path(folder), "train")[1], open_split(Path(folder), "val")[1]


def test_frames_are_exact_renders_and_in_betweens_lie_between(cli):
    train, val = synth(cli, "ds", "--windows", "6", "--val-fraction", "0.34", "--motion", "large",
                       "--lighting", "0.5", "--motion-blur", "0.5", "--seed", "3")
    assert (len(train), len(val)) == (4, 2)
    config = SynthConfig(windows=6, size=64, motion="large", lighting=0.5, motion_blur=0.5, seed=3)
    between, ends = [], []
    for index, window in enumerate([*val, *train]):  # scenes 0..1 are the val split, 2..5 train
        scene = Scene(config, [], index)
        for k in range(8):
            assert np.array_equal(scene.render(k / 7), window[k]), (index, k)
        for k in range(7):
            middle = scene.render((k + 0.5) / 7).astype(float)
            a, b = window[k].astype(float), window[k + 1].astype(float)
            assert not np.array_equal(middle, a) and not np.array_equal(middle, b)
            between.append(np.abs(middle - a).mean() + np.abs(middle - b).mean())
            ends.append(2 * np.abs(a - b).mean())
    # an in-between is closer to both of its neighbours than they are to each other
    assert np.mean(between) < np.mean(ends)


def test_same_seed_same_bytes_and_worker_count_does_not_matter(cli):
    one = synth(cli, "one", "--windows", "10", "--seed", "7", "--workers", "1")
    two = synth(cli, "two", "--windows", "10", "--seed", "7", "--workers", "2")
    other = synth(cli, "other", "--windows", "10", "--seed", "8", "--workers", "1")
    for split in (0, 1):
        assert np.array_equal(one[split], two[split])
    assert not np.array_equal(one[0], other[0])
    assert filecmp.cmp("one/train.npy", "two/train.npy", shallow=False)


def test_more_workers_than_cores_all_start(cli, monkeypatch):
    # The pool starts a process per task only while none is idle; tiny windows finish before the later
    # processes start unless the workers wait for each other (16 workers on 2 cores waited 120 s, then failed).
    monkeypatch.setattr("framegen.core.stages.synth.writer.WORKER_START_SECONDS", 30)
    one = synth(cli, "one", "--windows", "48", "--seed", "7", "--workers", "1")
    many = synth(cli, "many", "--windows", "48", "--seed", "7", "--workers", "12")
    assert one[0].tobytes() == many[0].tobytes() and one[1].tobytes() == many[1].tobytes()


def test_hold_rate_repeats_drawings_on_twos(cli):
    held, _ = synth(cli, "held", "--windows", "4", "--hold-rate", "1", "--motion", "medium", "--val-fraction", "0")
    moving, _ = synth(cli, "moving", "--windows", "4", "--hold-rate", "0", "--motion", "medium",
                      "--val-fraction", "0")
    assert np.array_equal(held[:, 1::2], held[:, 0::2])
    assert not np.array_equal(held[:, 2::2], held[:, 1:-1:2])  # a new drawing every second frame
    assert all((moving[:, k] != moving[:, k + 1]).any() for k in range(7))


def test_motion_flag_sets_how_far_layers_travel():
    size = 64
    for motion in ("small", "large"):
        low, high = TRAVEL[motion]
        for index in range(5):
            scene = Scene(SynthConfig(size=size, motion=motion), [], index)
            for layer in scene.layers:
                distance = np.hypot(*(layer.trajectory.centre(1.0) - layer.trajectory.centre(0.0)))
                assert low * size - 1e-9 <= distance <= high * size + 1e-9
    assert TRAVEL["large"][0] >= 0.25  # large: at least a quarter of the frame across the window

    def change(motion: str) -> float:  # mean |last frame - first frame| over a few windows
        windows = [Scene(SynthConfig(size=size, motion=motion), [], i).render_window() for i in range(6)]
        return float(np.mean([np.abs(w[-1].astype(float) - w[0]).mean() for w in windows]))

    assert change("large") > 2 * change("small")


def test_textures_folder_is_used(cli):
    colours = [(250, 10, 200), (10, 240, 30)]
    Path("textures/sub").mkdir(parents=True)
    for path, colour in zip(("textures/a.png", "textures/sub/b.png"), colours):
        write_png(Path(path), np.full((40, 50, 3), colour, np.uint8))
    assert len(load_textures(Path("textures"))) == 2  # found recursively
    train, _ = synth(cli, "ds", "--windows", "8", "--textures", "textures")
    plain, _ = synth(cli, "plain", "--windows", "8")

    def share(array: np.ndarray) -> float:  # fraction of pixels in exactly one of the texture colours
        return float(np.mean([(array == c).all(axis=-1).mean() for c in colours]))

    assert share(train) > 0.1 and share(plain) < 0.01


def test_a_dataset_folder_gives_textures(cli):
    synth(cli, "source", "--windows", "4")
    synth(cli, "ds", "--windows", "4", "--textures", "source")
    manifest, _ = open_split(Path("ds"), "train")
    assert manifest.kind == "synthetic"
    assert manifest.upstream is not None and manifest.upstream.path == "../source/manifest.json"


def test_output_is_a_dataset_that_window_dataset_and_synth_dataset_agree_on(cli):
    synth(cli, "ds", "--windows", "5", "--val-fraction", "0.2", "--length", "6")
    manifest, _ = open_split(Path("ds"), "train")
    assert [w.shot for w in manifest.splits["train"].windows] == [f"synth-{i:06d}" for i in range(1, 5)]
    assert manifest.splits["val"].shots == ["synth-000000"]
    assert manifest.splits["train"].windows[0].frames == list(range(6))
    item = WindowDataset(Path("ds"), "train")[0]
    assert item.shape == (6, 3, 64, 64) and item.dtype == torch.uint8
    assert torch.equal(windows_to_float(item) * 255, item.float())  # windows_to_float: the same image in [0, 1]
    on_the_fly = SynthDataset(SynthConfig(windows=5, size=64, length=6))
    assert len(on_the_fly) == 5
    assert torch.equal(on_the_fly[1], item)  # scene 1 is the first train window


def test_default_output_folder_is_in_the_workspace(cli):
    code, out, _ = cli("synth", "--windows", "2", "--size", "32")
    assert code == 0
    assert Path("framegen-work/synth/manifest.json").exists()
    assert "framegen-work/synth" in out
    code, _, err = cli("synth", "--windows", "2", "--size", "32")
    assert code == 2 and "not empty" in err


@pytest.mark.parametrize("options", [
    ("--windows", "0"), ("--windows", "-4"), ("--length", "1"), ("--size", "8"), ("--hold-rate", "1.5"),
    ("--val-fraction", "1"), ("--motion", "huge"), ("--workers", "0"), ("--seed", "-1"),
])
def test_bad_options_are_usage_errors(cli, options):
    code, _, err = cli("synth", "-o", "ds", "--windows", "2", *options)
    assert code == 2, err
    assert not Path("ds").exists()


def test_a_textures_folder_without_images_is_bad_input(cli):
    Path("empty").mkdir()
    (Path("empty") / "notes.txt").write_text("no images here")
    code, _, err = cli("synth", "-o", "ds", "--windows", "2", "--textures", "empty")
    assert code == 3 and "no PNG, JPEG or WebP images" in err


def test_more_than_the_disk_holds_is_refused_before_reserving(cli, monkeypatch):
    """A dataset larger than the free disk space: exit 3 with one line naming the output folder, before
    any block is reserved, and nothing left behind (before: the reservation filled the disk and stayed)."""
    reserved = []

    def reserve(fd, offset, length):  # never reserves for real: this test must not fill the disk on any code
        reserved.append(length)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", reserve, raising=False)
    window = 8 * 256 * 256 * 3
    windows = shutil.disk_usage(".").free // window + 100
    code, _, err = cli("-q", "synth", "-o", "big", "--windows", str(windows), "--workers", "1")
    assert code == 3 and reserved == [], err
    assert len(err.strip().splitlines()) == 1 and "big: the dataset needs" in err and "free" in err, err
    assert not Path("big").exists()
