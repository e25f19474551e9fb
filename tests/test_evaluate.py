"""`framegen evaluate`: engines scored against real in-betweens; flow ahead of blend on moving squares."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.media import textured_square_frames
from helpers.models import export_tiny, install_random_rife
from PIL import Image

from framegen.core.engines.minterpolate import MinterpolateEngine
from framegen.core.formats.dataset import DatasetManifest, DatasetWriter, WindowInfo
from framegen.core.scoring import beats, paired_gain


def write_dataset(folder, windows: int = 3, start: int = 0):
    """A synthetic dataset: `windows` val windows (and one train window) of a gliding textured square."""
    folder.mkdir()
    writer = DatasetWriter(folder, {"train": 1, "val": windows}, 8, 96, 128)
    writer.add("train", textured_square_frames(8, seed=99), WindowInfo(shot="train", frames=list(range(8))))
    for i in range(windows):
        frames = textured_square_frames(8 + start + i, seed=i)[start + i:]  # each window a little further on
        writer.add("val", frames, WindowInfo(shot=f"shot{i % 2}", frames=list(range(8))))
    writer.finish({**DatasetManifest.header({}), "kind": "synthetic"})
    return folder


def test_flow_is_ahead_of_blend_on_moving_squares(cli, tmp_path):
    dataset = write_dataset(tmp_path / "squares")
    code, out, err = cli("evaluate", dataset, "--engine", "blend,flow")
    assert code == 0, err
    assert "large gap" in out and "small gap" in out and "t=3/7" in out
    report_path = tmp_path / "evaluation.json"  # default: beside the dataset
    assert str(report_path.name) in out
    report = json.loads(report_path.read_text())
    assert report["schema"] == "framegen/evaluation" and report["datasets"][0]["windows"] == 3
    scores = {r["engine"]: r["overall"] for r in report["results"]}
    for metric in ("psnr", "ssim", "ms_ssim"):
        assert scores["flow"]["large_gap"][metric] > scores["blend"]["large_gap"][metric]
    assert scores["flow"]["large_gap"]["psnr"] > scores["blend"]["large_gap"]["psnr"] + 3.0
    assert scores["flow"]["small_gap"]["psnr"] > scores["blend"]["small_gap"]["psnr"]
    assert list(scores["flow"]["large_gap"]["per_t"]) == [f"{k}/7" for k in range(1, 7)]
    assert scores["flow"]["large_gap"]["frames"] == 18 and scores["flow"]["small_gap"]["frames"] == 3
    assert scores["flow"]["large_gap"]["seconds_per_frame"] > 0
    assert set(report["results"][0]["shots"][str(dataset)]) == {"shot0", "shot1"}


def test_several_datasets_model_and_minterpolate(cli, tmp_path):
    first = write_dataset(tmp_path / "one", windows=1)
    second = write_dataset(tmp_path / "two", windows=1, start=3)
    export = export_tiny(tmp_path / "export", beats_flow=None)
    code, out, err = cli("evaluate", first, second, "--engine", "blend,model,minterpolate", "--checkpoint", export,
                         "-o", tmp_path / "reports" / "eval.json")
    assert code == 0, err
    report = json.loads((tmp_path / "reports" / "eval.json").read_text())
    assert [r["engine"] for r in report["results"]] == ["blend", "model", "minterpolate"]
    assert all(set(r["datasets"]) == {str(first), str(second)} for r in report["results"])
    assert " two " in out and " one " in out


def test_installed_weights_by_name_side_by_side(cli, tmp_path):
    dataset = write_dataset(tmp_path / "squares", windows=1)
    install_random_rife("rife4", "rife4", tmp_path)
    install_random_rife("rife3hd", "rife3hd", tmp_path)
    code, out, err = cli("evaluate", dataset, "--engine", "flow,model", "--checkpoint", "rife4", "--checkpoint",
                         "rife3hd", "--device", "cpu", "-o", tmp_path / "eval.json")
    assert code == 0, err
    report = json.loads((tmp_path / "eval.json").read_text())
    assert [r["engine"] for r in report["results"]] == ["flow", "model:rife4", "model:rife3hd"]
    assert report["parameters"]["device"] == "cpu"
    code, _, err = cli("evaluate", dataset, "--engine", "model", "--checkpoint", "rife9")
    assert code == 3 and "(installed: rife3hd, rife4;" in err


def test_several_checkpoints_in_one_run_and_a_side_by_side_gif(cli, tmp_path):
    dataset = write_dataset(tmp_path / "squares", windows=2)
    first = export_tiny(tmp_path / "run-a" / "export", beats_flow=None)
    second = export_tiny(tmp_path / "run-b" / "export", beats_flow=None)
    code, out, err = cli("evaluate", dataset, "--engine", "blend,flow,model", "--checkpoint", first,
                         "--checkpoint", second, "--gif", tmp_path / "side.gif", "-o", tmp_path / "eval.json")
    assert code == 0, err
    report = json.loads((tmp_path / "eval.json").read_text())
    assert [r["engine"] for r in report["results"]] == ["blend", "flow", "model:run-a", "model:run-b"]
    gif = Image.open(tmp_path / "side.gif")
    assert gif.n_frames == 8 and gif.size == (5 * 128, 20 + 96)  # real + 4 engines, a label strip on top
    gif.seek(3)
    middle = np.asarray(gif.convert("RGB"))[20:]
    real = textured_square_frames(8, seed=0)[3]  # write_dataset's first val window, frame 3
    assert np.abs(middle[:, :128].astype(int) - real).mean() < 6  # the first column is the real frame (GIF palette)


def test_minterpolate_baseline_returns_the_asked_times():
    frames = textured_square_frames(8)
    made = MinterpolateEngine().interpolate(frames[0], frames[0], [1 / 7, 0.5])
    assert [m.shape for m in made] == [(96, 128, 3)] * 2
    assert np.abs(made[1].astype(int) - frames[0]).mean() < 1.5  # a still pair stays still


@pytest.mark.parametrize(
    "args, code",
    [(["missing"], 3), (["squares", "--engine", "blend,magic"], 2), (["squares", "--engine", "blend",
                                                                      "--checkpoint", "x"], 2)],
)
def test_errors(cli, tmp_path, args, code):
    write_dataset(tmp_path / "squares", windows=1)
    result, _, err = cli("evaluate", *[str(tmp_path / a) if a in ("missing", "squares") else a for a in args])
    assert result == code
    assert len(err.strip().splitlines()) == 1


def test_a_gain_counts_only_where_the_held_out_windows_support_it():
    rng = np.random.default_rng(0)
    baseline = list(31.64 + rng.normal(0, 1.5, 12))  # windows differ a lot; the pairs a little
    noise = rng.normal(0, 0.3, 12)
    noisy = paired_gain(list(np.array(baseline) + 0.02 + noise - noise.mean()), baseline)
    assert noisy.gain == pytest.approx(0.02) and noisy.windows == 12
    assert noisy.margin == pytest.approx(max(0.1, 2 * noise.std(ddof=1) / np.sqrt(12)))
    assert not beats(noisy)  # 31.66 against 31.64 on 12 windows: a tie
    clear = paired_gain(list(np.array(baseline) + 1.0 + noise), baseline)
    assert beats(clear) and clear.gain > clear.margin
    assert not beats(paired_gain([30.0, 31.0], [30.0, 31.0]))  # the same scores: no gain, a tie
    assert beats(paired_gain([31.0, 32.0], [30.0, 31.0]))  # the same gain on every window: no spread at all
    hair = paired_gain([30.00015, 31.00015, 32.00015], [30.0, 31.0, 32.0])  # 2 steps that barely moved weights
    assert hair.margin == 0.1 and not beats(hair)
    assert not beats(paired_gain([40.0], [30.0]))  # one window: no spread to measure, no gain trusted
    assert not beats(paired_gain(list(np.array(baseline) - 1.0 + noise), baseline))
