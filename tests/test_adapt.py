"""Test-time adaptation (core/training/adapt.py), `evaluate MOVIE` (core/stages/evaluate/movie.py) and
`interpolate MOVIE --adapt`, on a small generated movie: two shots with known motion and a cut, the second
animated on twos. The networks are randomly initialised RIFE (the published weights are not needed to test
the mechanics)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from framegen.core.engines.blend import BlendEngine
from framegen.core.engines.model import ModelEngine
from framegen.core.media.animation import write_animation
from framegen.core.media.images import write_png
from framegen.core.models.export import ExportMetadata, export_model
from framegen.core.models.registry import build_generator
from framegen.core.stages.interpolate import InterpolateConfig, interpolate_video
from framegen.core.training.adapt import CropPool, ShotAdapter
from framegen.core.training.adapt_config import AdaptConfig

SHOT_FRAMES = 16
WIDTH, HEIGHT = 96, 64
RED, BLUE = (200, 40, 40), (40, 40, 200)


def shot(background: tuple[int, int, int], step: int, hold: int) -> list[np.ndarray]:
    """SHOT_FRAMES frames: a white square on `background` moving `step` px right per drawing, each drawing
    held `hold` frames."""
    frames = []
    for i in range(SHOT_FRAMES):
        frame = np.full((HEIGHT, WIDTH, 3), background, np.uint8)
        x = 8 + step * (i // hold)
        frame[20:40, x:x + 20] = 255
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def cut_movie(tmp_path_factory) -> Path:
    """32 frames at 24 fps: a red shot moving every frame, a cut at frame 16, a blue shot on twos."""
    path = tmp_path_factory.mktemp("movie") / "cut.mp4"
    write_animation(path, shot(RED, 3, 1) + shot(BLUE, 4, 2), fps=24)
    return path


@pytest.fixture(scope="module")
def rife_export(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("export")
    export_model(folder, "rife4", {}, build_generator("rife4", {}).state_dict(), ExportMetadata())
    return folder


def test_movie_evaluation_scores_shots_apart_and_each_drawing_once(cli, cut_movie, tmp_path, monkeypatch):
    pairs = []
    blend = BlendEngine.interpolate_float

    def recording(self, image0, image1, times):
        pairs.append((image0[..., 0].mean() > image0[..., 2].mean(), image1[..., 0].mean() > image1[..., 2].mean()))
        return blend(self, image0, image1, times)

    monkeypatch.setattr(BlendEngine, "interpolate_float", recording)
    assert cli("evaluate", cut_movie, "--engine", "blend", "-o", tmp_path / "report.json")[0] == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["schema"] == "framegen/movie-evaluation"
    shots = report["shots"]
    assert [(s["start"], s["end"]) for s in shots.values()] == [(0, 16), (16, 32)]
    assert shots["1"]["drawings"] == 16 and shots["2"]["drawings"] == 8  # held frames counted once
    assert [s["scored"] for s in shots.values()] == [7, 3]  # odd drawings with two even neighbours
    assert len(pairs) == 10 and all(a == b for a, b in pairs)  # never a red frame with a blue one
    assert pairs.count((True, True)) == 7
    row = report["results"][0]
    assert row["runs"] == "blend" and row["overall"]["frames"] == 10
    assert set(row["shots"]) == {"1", "2"} and row["overall"]["psnr"] > 10
    assert {"psnr", "ssim", "ms_ssim", "seconds_per_frame"} <= set(row["overall"])


def test_score_every_takes_one_dropped_drawing_in_n(cli, cut_movie, tmp_path):
    assert cli("evaluate", cut_movie, "--engine", "blend", "--score-every", "3", "-o", tmp_path / "r.json")[0] == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert [s["scored"] for s in report["shots"].values()] == [3, 1]


def test_movie_evaluation_with_adaptation_and_ensemble_has_every_row(cli, cut_movie, rife_export, tmp_path):
    code, _, err = cli("evaluate", cut_movie, "--engine", "flow,model", "--checkpoint", rife_export, "--adapt",
                       "--adapt-steps", "1", "--ensemble", "-o", tmp_path / "r.json")
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    label = rife_export.name
    assert [r["runs"] for r in report["results"]] == [
        "flow", f"model:{label}", f"model:{label}+ensemble", f"model:{label}+adapt", f"model:{label}+adapt+ensemble"]
    adapted = report["results"][3]
    assert set(adapted["adaptation"]) == {"1", "2"} and "steps" in adapted["adaptation"]["1"]
    assert all(set(r["shots"]) == {"1", "2"} for r in report["results"])


@pytest.mark.parametrize("args, message", [
    (["--engine", "flow", "--adapt"], "--adapt needs a network"),
    (["--engine", "blend", "--score-every", "0"], "--score-every"),
])
def test_movie_evaluation_usage_errors(cli, cut_movie, args, message):
    code, _, err = cli("evaluate", cut_movie, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err


def pool_of(frames: list[np.ndarray], config: AdaptConfig) -> CropPool:
    return CropPool.collect(iter(frames), len(frames), config, np.random.default_rng(0))


def weights_of(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.clone() for name, tensor in network.state_dict().items()}


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[name], b[name]) for name in a)


def test_adaptation_changes_the_weights_and_puts_them_back(monkeypatch):
    torch.manual_seed(0)
    network = build_generator("rife4", {})
    original = weights_of(network)
    config = AdaptConfig(steps=2, lr=1e-3, batch=2, crop=64)
    losses = iter([1.0, 0.5, 1.0, 2.0])  # the stopping rule's before and after: better on the first shot only
    monkeypatch.setattr(ShotAdapter, "cycle_loss", lambda self, triplets: next(losses))
    adapter = ShotAdapter(network, config, torch.device("cpu"))
    pool = pool_of(shot(RED, 3, 1), config)
    assert pool.samples.shape == (2 * 14, 3, 3, 64, 64)  # crops_per_triplet x triplets, A M B, RGB, crop
    with adapter.adapted(pool, SHOT_FRAMES) as report:
        assert report.steps == 2 and report.kept
        assert not same_weights(weights_of(network), original)
    assert same_weights(weights_of(network), original)
    with adapter.adapted(pool, SHOT_FRAMES) as report:  # the steps made it worse: not kept
        assert report.steps == 2 and not report.kept and "not kept" in report.summary()
        assert same_weights(weights_of(network), original)
    assert same_weights(weights_of(network), original)


def test_a_shot_too_short_is_not_adapted():
    network = build_generator("rife4", {})
    original = weights_of(network)
    config = AdaptConfig(crop=64)
    adapter = ShotAdapter(network, config, torch.device("cpu"))
    frames = shot(RED, 3, 1)[:3]
    with adapter.adapted(pool_of(frames, config), len(frames)) as report:
        assert report.steps == 0 and report.skipped and "3 input drawings" in report.summary()
        assert same_weights(weights_of(network), original)


def test_interpolate_movie_adapts_to_each_shot(cut_movie, rife_export, tmp_path):
    engine = ModelEngine.load(rife_export, device="cpu")
    original = weights_of(engine.generator)
    config = InterpolateConfig(adapt=True, adaptation=AdaptConfig(steps=1, crop=64, batch=2))
    result = interpolate_video(cut_movie, tmp_path / "out.mp4", engine, config)
    assert result.output_frames == 2 * 32
    assert [r.drawings for r in result.adaptation] == [16, 8] and all(r.steps == 1 for r in result.adaptation)
    assert same_weights(weights_of(engine.generator), original)


def test_adapt_needs_a_network_and_a_movie(cli, cut_movie, tmp_path):
    code, _, err = cli("interpolate", cut_movie, "--engine", "flow", "--adapt", "-o", tmp_path / "o.mp4")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--adapt needs a network" in err
    assert not (tmp_path / "o.mp4").exists()
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    write_png(a, shot(RED, 3, 1)[0])
    write_png(b, shot(RED, 3, 1)[1])
    code, _, err = cli("interpolate", a, b, "--adapt", "-o", tmp_path / "o.gif")
    assert code == 2 and err.strip() == "error: --adapt is for a movie: the network adapts to each of its shots"


def test_ctrl_c_during_adaptation_leaves_no_output(cut_movie, rife_export, tmp_path, monkeypatch):
    def interrupted(self, pool, report):
        if self.shots == 1:  # the second shot
            raise KeyboardInterrupt
        report.skipped = "test"

    monkeypatch.setattr(ShotAdapter, "adapt", interrupted)
    engine = ModelEngine.load(rife_export, device="cpu")
    config = InterpolateConfig(adapt=True, adaptation=AdaptConfig(crop=64))
    with pytest.raises(KeyboardInterrupt):
        interpolate_video(cut_movie, tmp_path / "out.mp4", engine, config)
    assert list(tmp_path.iterdir()) == []
