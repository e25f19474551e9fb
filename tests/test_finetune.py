"""`framegen train --init`: fine-tuning installed RIFE weights (random weights in the published layout,
imported into a temporary FRAMEGEN_HOME; no download), the frames a step learns from, L2-SP, the
fine-tuning defaults and the recipes."""

from __future__ import annotations

import contextlib
import csv
import json
from pathlib import Path

import pytest
import torch
from helpers.datasets import make_dataset
from helpers.media import moving_square_frames
from helpers.models import install_random_rife

from framegen.core.config import resolve_config
from framegen.core.errors import UsageError
from framegen.core.models.export import ExportMetadata, PairedGain, export_model, load_exported
from framegen.core.models.rife import Rife3HD
from framegen.core.scoring import beats
from framegen.core.training.config import FINETUNE_DEFAULTS, TrainConfig
from framegen.core.training.cycle import cycle_error
from framegen.core.training.losses import L2SP
from framegen.core.training.models import TrainingModels
from framegen.core.training.pairs import sample_pairs, step_rng
from framegen.core.training.step import autocast_context, train_step

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
SMALL_WEIGHTS = 0.02  # random RIFE weights that make some picture
QUICK = ["--crop", "64", "--batch-size", "2", "--max-steps", "3", "--seed", "1", "--config", "quick.toml"]


@pytest.fixture
def dataset(tmp_path) -> Path:
    return make_dataset(tmp_path / "ds", train=8, val=1, size=64)


@pytest.fixture(autouse=True)
def quick(tmp_path) -> Path:
    """A config without sample GIFs (they cost a model pass per validation), in the tests' folder."""
    (tmp_path / "quick.toml").write_text("sample_windows = 0\n")
    return tmp_path / "quick.toml"


@pytest.fixture
def rife4_home(tmp_path) -> Path:
    return install_random_rife("rife4", "rife4", tmp_path, std=SMALL_WEIGHTS)


def read_metrics(run: Path) -> list[dict[str, str]]:
    """metrics.csv's rows; every row has exactly the header's columns (the step-0 row has no losses)."""
    with open(run / "metrics.csv") as f:
        rows = list(csv.reader(f))
    assert all(len(r) == len(rows[0]) for r in rows), [len(r) for r in rows]
    return [dict(zip(rows[0], r)) for r in rows[1:]]


# ---------------------------------------------------------------------------------------------- which frames


def test_sample_pairs_takes_the_frames_at_the_times_it_names():
    window = torch.arange(8.0)[None, :, None, None, None].expand(6, 8, 3, 4, 4)  # frame k is all k
    for mode in ("window", "all", "random", "midpoints"):
        for step in range(8):
            pairs = sample_pairs(window, mode, 0.5, step_rng(0, step))
            first, second = pairs.frame0[:, 0, 0, 0], pairs.frame1[:, 0, 0, 0]  # (B,) frame indices
            expected = first[:, None] + pairs.times * (second - first)[:, None]  # (B, K)
            torch.testing.assert_close(pairs.targets[:, :, 0, 0, 0], expected)
            if mode == "midpoints":
                assert torch.all(pairs.times == 0.5) and set((second - first).tolist()) <= {2.0, 4.0, 6.0}
            if mode == "window":
                assert pairs.times.shape == (6, 8)


def test_sample_pairs_draws_both_gaps_and_is_a_function_of_seed_and_step():
    window = torch.arange(8.0)[None, :, None, None, None].expand(64, 8, 3, 2, 2)
    pairs = sample_pairs(window, "random", 0.25, step_rng(3, 7))
    gaps = (pairs.frame1 - pairs.frame0)[:, 0, 0, 0]
    assert set(gaps.tolist()) == {2.0, 7.0}  # the small gap and the window's large gap
    assert 4 <= int((gaps == 2).sum()) <= 30  # about a quarter
    again = sample_pairs(window, "random", 0.25, step_rng(3, 7))
    assert torch.equal(pairs.times, again.times) and torch.equal(pairs.frame0, again.frame0)
    large = [sample_pairs(window, "all", 0.25, step_rng(0, s)).times.shape[1] for s in range(20)]
    assert set(large) == {1, 6}  # "all": every in-between t of the large gap, or a small-gap step


# ---------------------------------------------------------------------------------------------- config


def test_finetune_defaults_apply_only_where_nothing_else_is_set(tmp_path):
    plain = TrainConfig(arch="rife4")
    assert plain.lr == 1e-4 and plain.l2_sp == 0 and plain.times == "random"
    tuned = TrainConfig(arch="rife4", init="rife4")
    assert tuned.lr == FINETUNE_DEFAULTS["lr"] and tuned.l2_sp == FINETUNE_DEFAULTS["l2_sp"]
    toml = tmp_path / "c.toml"
    toml.write_text("lr = 3e-5\ncrop = 64\n")
    mine = resolve_config(TrainConfig, {"arch": "rife4", "init": "rife4", "crop": 96}, toml)
    assert mine.lr == 3e-5 and mine.crop == 96 and mine.batch_size == FINETUNE_DEFAULTS["batch_size"]
    assert TrainConfig(arch="rife3hd").times == "midpoints"
    with pytest.raises(UsageError, match="midpoints"):
        TrainConfig(arch="rife3hd", times="random")
    with pytest.raises(UsageError, match="--init"):
        TrainConfig(arch="rife4", l2_sp=0.1)


@pytest.mark.parametrize("recipe", sorted(RECIPES.glob("*.toml")), ids=lambda p: p.name)
def test_recipes_are_valid_configs(recipe):
    config = resolve_config(TrainConfig, {}, recipe)
    if recipe.name.startswith("finetune-"):
        assert config.init is not None and config.arch in ("rife4", "rife3hd")
    else:  # small.toml: the small mipal model from scratch, train's default on a CPU
        assert recipe.name == "small.toml" and config.init is None and config.arch == "mipal"
        assert (config.model["width"], config.model["refiner_depth"], config.crop) == (0.25, 6, 128)


def test_there_are_recipes_for_a_long_cpu_run_and_a_gpu():
    names = {p.stem for p in RECIPES.glob("*.toml")}
    assert {"finetune-rife4-cpu-long", "finetune-rife4-gpu"} <= names


def test_l2_sp_is_zero_at_the_start_and_pulls_back():
    network = torch.nn.Linear(3, 2)
    regulariser = L2SP(network.state_dict(), weight=0.5)
    assert regulariser(network) == 0
    with torch.no_grad():
        network.weight += 0.1
    penalty = regulariser(network)
    torch.testing.assert_close(penalty, torch.tensor(0.5 * 6 * 0.01))
    penalty.backward()
    assert torch.all(network.weight.grad > 0) and torch.all(network.bias.grad == 0)


# ---------------------------------------------------------------------------------------------- training


def test_training_from_init_validates_the_start_and_exports_both_comparisons(cli, dataset, rife4_home, tmp_path):
    code, out, err = cli("train", dataset, "--arch", "rife4", "--init", "rife4", "-o", "run", *QUICK,
                         "--max-steps", "5")  # an epoch is 4 steps: fine-tuning validates at 0 and the end only
    assert code == 0, err
    rows = read_metrics(tmp_path / "run")
    assert rows[0]["step"] == "0" and rows[0]["psnr"] == rows[0]["init_psnr"] and rows[0]["beats_init"] == "0"
    assert [row["step"] for row in rows] == ["0", "5"]
    info = json.loads((tmp_path / "run" / "export" / "model.json").read_text())["metadata"]
    assert info["init"] == "rife4" and set(info["init_validation"]) == {"psnr", "ssim", "ms_ssim"}
    gain = info["init_gain"]  # the starting weights compared window by window, as flow is
    assert gain["gain"] == pytest.approx(info["validation"]["psnr"] - info["init_validation"]["psnr"], abs=1e-4)
    assert info["beats_init"] == beats(PairedGain(**gain)) and info["flow_gain"]["windows"] == gain["windows"]
    assert info["beats_init"] is False  # five small steps move every window by a hair: no claim to beat rife4
    assert isinstance(info["beats_flow"], bool) and info["recipe"]["train"]["l2_sp"] > 0
    assert "start (rife4)" in out
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["init"] == "rife4" and manifest["beats_init"] == info["beats_init"]


def test_when_training_never_improves_the_export_is_the_starting_weights(cli, dataset, rife4_home, tmp_path):
    start, _ = load_exported(rife4_home)
    # a rate too small to change a float32 weight: no validation can beat step 0
    code, out, err = cli("train", dataset, "--arch", "rife4", "--init", str(rife4_home), "--lr", "1e-30",
                         "-o", "run", *QUICK)
    assert code == 0, err
    exported, info = load_exported(tmp_path / "run" / "export")
    assert info.metadata.recipe["step"] == 0 and info.metadata.beats_init is False
    for name, tensor in start.state_dict().items():
        assert torch.equal(exported.state_dict()[name], tensor), name
    assert "--engine auto does not use this run" in out


def test_resume_from_init_is_exact(cli, dataset, rife4_home, tmp_path):
    options = ["--arch", "rife4", "--init", "rife4", "--crop", "64", "--batch-size", "2", "--lr", "1e-4",
               "--checkpoint-every", "100", "--config", "quick.toml"]
    assert cli("train", dataset, "-o", "straight", "--max-steps", "4", *options)[0] == 0
    assert cli("train", dataset, "-o", "split", "--max-steps", "2", *options)[0] == 0
    code, _, err = cli("train", "-o", "split", "--resume", "--max-steps", "4")
    assert code == 0, err
    a = torch.load(tmp_path / "straight" / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "checkpoints" / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 4 and a["init_validation"] == b["init_validation"]
    for part in ("generator", "ema"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    start, _ = load_exported(rife4_home)
    assert not torch.equal(a["generator"]["block0.conv0.0.0.weight"], start.state_dict()["block0.conv0.0.0.weight"])


def index_in(window: torch.Tensor, frame: torch.Tensor) -> int:
    """Which frame of `window` (T, 3, H, W) `frame` is; it must be there once."""
    found = [k for k in range(len(window)) if torch.equal(window[k], frame)]
    assert len(found) == 1, found
    return found[0]


def test_rife3hd_fine_tunes_on_midpoints(tmp_path):
    """Fine-tuning rife3hd: each pair is frames i and i+2d of a window with the real frame i+d as the target
    at t = 1/2, and steps on them (the training loop's sample_pairs and train_step, without a run: a train
    run of rife3hd takes a minute on a busy CPU) change the weights, never the starting ones L2-SP pulls
    towards, and lower the loss on those midpoints."""
    torch.manual_seed(0)
    network = Rife3HD()
    for param in network.parameters():  # small random weights: a network that makes some picture
        param.data.normal_(0, 0.02)
    export_model(tmp_path / "start", "rife3hd", {}, network.state_dict(), ExportMetadata())
    config = TrainConfig(arch="rife3hd", init=str(tmp_path / "start"), lr=1e-4, ema=0)
    models = TrainingModels(config, torch.device("cpu"))
    frames = torch.from_numpy(moving_square_frames(16, size=(64, 64))).permute(0, 3, 1, 2) / 255
    windows = torch.stack([frames[:8], frames[8:]])[..., 16:48, 16:48]  # (2, 8, 3, 32, 32): fast on a CPU
    pairs = sample_pairs(windows, config.times, config.small_gap, step_rng(config.seed, 0))
    assert torch.all(pairs.times == 0.5)
    for window, frame0, frame1, target in zip(windows, pairs.frame0, pairs.frame1, pairs.targets[:, 0]):
        first, second, middle = index_in(window, frame0), index_in(window, frame1), index_in(window, target)
        assert second - first >= 2 and 2 * middle == first + second, (first, middle, second)

    def midpoint_loss() -> float:
        with torch.no_grad():
            outputs = models.generator(pairs.frame0, pairs.frame1, pairs.times, None, intermediates=True)
            return sum(models.criterion(outputs, pairs.targets).values()).item()

    before = midpoint_loss()
    for _ in range(2):
        terms = train_step(models, pairs, autocast_context(torch.device("cpu"), config.precision))
    assert "l2_sp" in terms and midpoint_loss() < before
    trained, start = models.generator.state_dict(), models.init_generator.state_dict()
    assert any(not torch.equal(trained[name], start[name]) for name in start)
    exported, _ = load_exported(tmp_path / "start")
    assert all(torch.equal(start[name], tensor) for name, tensor in exported.state_dict().items())


def test_init_refusals_are_one_line(cli, dataset, tmp_path):
    install_random_rife("rife3hd", "rife3hd", tmp_path, std=SMALL_WEIGHTS)
    code, _, err = cli("train", dataset, "--arch", "rife4", "--init", "rife3hd", "-o", "a", *QUICK)
    assert code == 2 and "arch 'rife3hd'" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("train", dataset, "--arch", "rife4", "--init", "nothing-here", "-o", "b", *QUICK)
    assert code == 3 and "no installed weights" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("train", dataset, "--arch", "rife3hd", "--init", "rife3hd", "--times", "all", "-o", "c", *QUICK)
    assert code == 2 and "midpoints" in err


# ---------------------------------------------------------------------------------------------- the cycle


def cycle_config(init: Path, **options) -> TrainConfig:
    return TrainConfig(arch="rife4", init=str(init), objective="cycle", crop=64, batch_size=2, ema=0.0,
                       warmup_steps=0, **options)


def test_the_cycle_objective_learns_its_midpoint_triplets(rife4_home):
    config = cycle_config(rife4_home, lr=1e-3, l2_sp=0.0)
    assert config.times == "midpoints"
    models = TrainingModels(config, torch.device("cpu"))
    torch.manual_seed(0)
    window = torch.rand(2, 8, 3, 64, 64)  # (B, T, 3, H, W) in [0, 1]
    pairs = sample_pairs(window, config.times, config.small_gap, step_rng(0, 0))
    assert torch.all((pairs.times == 0.5))  # A, M, B the same gap apart: M is the midpoint
    triplet = (pairs.frame0, pairs.targets[:, 0], pairs.frame1)
    before = cycle_error(models.generator, *triplet)
    losses = [train_step(models, pairs, contextlib.nullcontext()) for _ in range(8)]
    assert set(losses[0]) == {"g", "l1", "laplacian", "pull"}
    assert losses[0]["pull"] == 0  # the frozen starting weights make exactly P and Q at first
    assert losses[-1]["pull"] > 0  # then the network moves away from them, and is pulled back
    assert cycle_error(models.generator, *triplet) < 0.9 * before
    start, _ = load_exported(rife4_home)  # the reference stays the starting weights
    for name, tensor in start.state_dict().items():
        assert torch.equal(models.cycle_reference.state_dict()[name], tensor), name


def test_train_with_the_cycle_objective_runs_validates_and_exports(cli, dataset, rife4_home, tmp_path):
    code, out, err = cli("train", dataset, "--arch", "rife4", "--init", "rife4", "--objective", "cycle", "-o", "run",
                         *QUICK, "--lr", "1e-4")
    assert code == 0, err
    rows = read_metrics(tmp_path / "run")
    assert [row["step"] for row in rows] == ["0", "3"] and float(rows[-1]["loss_pull"]) > 0
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["parameters"]["objective"] == "cycle" and manifest["parameters"]["times"] == "midpoints"
    start, _ = load_exported(rife4_home)
    trained = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["generator"]
    assert not torch.equal(trained["block0.conv0.0.0.weight"], start.state_dict()["block0.conv0.0.0.weight"])


@pytest.mark.parametrize("options, words", [
    (["--arch", "mipal"], "not --arch mipal"),
    (["--arch", "rife4"], "needs --init"),
    (["--arch", "rife4", "--init", "rife4", "--times", "random"], "--times random does not apply"),
])
def test_cycle_refusals_are_one_line(cli, dataset, rife4_home, options, words):
    code, _, err = cli("train", dataset, "--objective", "cycle", *options, "-o", "run", *QUICK)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
