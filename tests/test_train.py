"""`framegen train` end to end on tiny datasets: outputs, exact resume, refusals, dataset mixing."""

from __future__ import annotations

import csv
import inspect
import json
import re
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch
from helpers.datasets import make_dataset, make_fade_dataset, tiny_config
from helpers.media import moving_square_frames
from PIL import Image
from pydantic import BaseModel, ConfigDict

from framegen import console
from framegen.core.engines import get_engine
from framegen.core.engines.model import ModelEngine
from framegen.core.errors import UsageError
from framegen.core.manifest import sha256_file
from framegen.core.models import registry
from framegen.core.models.export import ExportMetadata, export_model, load_exported
from framegen.core.scoring import open_windows, score_engine
from framegen.core.training import loop, losses
from framegen.core.training.checkpoint import load_checkpoint, save_checkpoint
from framegen.core.training.config import TrainConfig, learning_rate_factor
from framegen.core.training.data import WindowSampler, open_training_data

FAST = ["--batch-size", "2", "--seed", "1"]


@pytest.fixture
def dataset(tmp_path) -> Path:
    return make_dataset(tmp_path / "ds")


@pytest.fixture
def config(tmp_path) -> Path:
    return tiny_config(tmp_path)


def tensors_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_train_writes_checkpoints_metrics_samples_export_and_manifest(cli, dataset, tmp_path):
    config = tiny_config(tmp_path, sample_windows=4)
    code, out, err = cli("train", dataset, "-o", "run", "--config", config, "--max-steps", "4", *FAST)
    assert code == 0, err
    run = tmp_path / "run"
    assert "validation: PSNR" in out and "cross-fade: PSNR" in out and "run/export/model.json" in out

    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [3, 4]  # the epoch's end (3 steps of 2 windows), the end of the run
    assert {"psnr", "ssim", "ms_ssim", "crossfade_psnr", "loss_refined_l1", "loss_d", "windows_per_s"} <= set(rows[0])
    assert 0 < float(rows[-1]["crossfade_ssim"]) <= 1

    gif = Image.open(run / "samples" / "step-00000004.gif")
    assert gif.n_frames == 8 and gif.size == (3 * 64, 14 + 2 * 64)  # columns real | cross-fade | model under their
    # labels, 2 windows

    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 4 and state["config"]["model"]["width"] == 0.125 and state["ema"] is not None
    assert set(state["rng"]) == {"torch", "cuda", "numpy", "python"}

    model, info = load_exported(run / "export")
    assert info.arch == "mipal" and info.metadata.recipe["step"] == 4
    assert info.metadata.validation["psnr"] == pytest.approx(float(rows[-1]["psnr"]), abs=1e-3)

    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["schema"] == "framegen/run" and manifest["steps"] == 4
    assert manifest["datasets"][0]["sha256"] == sha256_file(dataset / "manifest.json")
    assert (run / manifest["upstream"]["path"]).resolve() == (dataset / "manifest.json").resolve()
    assert not (run / ".framegen-partial").exists()


def test_a_run_folder_inside_its_dataset_is_refused(cli, dataset, config):
    code, _, err = cli("train", dataset, "-o", str(dataset / "run"), "--config", config, "--max-steps", "1", *FAST)
    assert code == 2 and "lies inside the input" in err and len(err.strip().splitlines()) == 1
    assert not (dataset / "run").exists()


def test_max_minutes_stops_validates_and_exports(cli, dataset, config, tmp_path):
    code, out, err = cli("train", dataset, "-o", "run", "--config", config, "--max-minutes", "0.0001",
                         "--epochs", "50", *FAST)
    assert code == 0, err
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["steps"] == 1 and manifest["exported_step"] == 1  # out of time after the first step
    assert manifest["validation"]["psnr"] > 0 and "validation: PSNR" in out
    # the time it announces is the --max-minutes cap, not the 50 epochs it would otherwise take
    assert re.search(r"first step [\d.]+ s: .* --max-minutes stops it after 0:00, before the 150 steps to go", err)


def test_validate_every_adds_validations_inside_an_epoch(cli, dataset, config, tmp_path):
    code, _, err = cli("train", dataset, "-o", "run", "--config", config, "--max-steps", "4", "--validate-every", "2",
                       *FAST)
    assert code == 0, err
    with open(tmp_path / "run" / "metrics.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [2, 3, 4]  # every 2 steps, the epoch's end (3), the end


def test_learning_rate_schedule_warms_up_then_decays_by_cosine():
    cosine = TrainConfig(lr_schedule="cosine", warmup_steps=4)
    assert [learning_rate_factor(cosine, step, 0.0) for step in range(4)] == [0.2, 0.4, 0.6, 0.8]
    assert learning_rate_factor(cosine, 4, 0.0) == 1.0
    assert learning_rate_factor(cosine, 50, 0.5) == pytest.approx(0.55)
    assert learning_rate_factor(cosine, 99, 1.0) == pytest.approx(0.1) == learning_rate_factor(cosine, 99, 3.0)
    assert learning_rate_factor(TrainConfig(), 99, 0.9) == 1.0  # constant, no warm-up


def test_train_sets_the_scheduled_learning_rate_of_both_optimizers(cli, dataset, tmp_path):
    config = tiny_config(tmp_path, 'lr_schedule = "cosine"\nwarmup_steps = 1')
    code, _, err = cli("train", dataset, "-o", "run", "--config", config, "--max-steps", "4", *FAST)
    assert code == 0, err
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)
    run_config = TrainConfig(**state["config"])
    factor = learning_rate_factor(run_config, 3, 3 / 4)  # set before the last step, from the progress so far
    assert 0.1 < factor < 0.5
    assert state["optimizer_g"]["param_groups"][0]["lr"] == pytest.approx(run_config.lr * factor)
    assert state["optimizer_d"]["param_groups"][0]["lr"] == pytest.approx(run_config.gan.lr * factor)


def test_a_refused_run_leaves_no_run_folder(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, err = cli("train", tmp_path / "empty", "-o", "run")
    assert code == 3 and "manifest" in err
    assert not (tmp_path / "run").exists()


def test_resume_is_exact(cli, dataset, config, tmp_path):
    options = ["--config", config, "--checkpoint-every", "100", *FAST]
    assert cli("train", dataset, "-o", "straight", "--max-steps", "5", *options)[0] == 0
    assert cli("train", dataset, "-o", "split", "--max-steps", "2", *options)[0] == 0  # stops mid-epoch
    code, _, err = cli("train", "-o", "split", "--resume", "--max-steps", "5")
    assert code == 0, err
    assert "Resuming" in err and "step 2" in err
    a = torch.load(tmp_path / "straight" / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "split" / "checkpoints" / "last.pt", weights_only=True)
    assert a["step"] == b["step"] == 5
    for part in ("generator", "discriminator", "ema"):
        assert tensors_equal(a[part], b[part]), part
    for i, moments in a["optimizer_g"]["state"].items():
        assert torch.equal(moments["exp_avg_sq"], b["optimizer_g"]["state"][i]["exp_avg_sq"])


def test_kill_9_then_resume_continues_from_the_last_checkpoint(cli, dataset, config, tmp_path):
    command = [sys.executable, "-m", "framegen", "-q", "train", str(dataset), "-o", "run", "--config", str(config),
               "--max-steps", "200", "--checkpoint-every", "2", "--batch-size", "1"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoints = tmp_path / "run" / "checkpoints"
    deadline = time.monotonic() + 90
    while len(list(checkpoints.glob("step-*.pt"))) < 2:
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoints written"
        time.sleep(0.05)
    process.kill()  # SIGKILL, possibly in the middle of writing a checkpoint
    process.wait()
    step = load_checkpoint(checkpoints / "last.pt")["step"]  # intact: written atomically
    assert step >= 2
    code, _, err = cli("train", "-o", "run", "--resume", "--max-steps", str(step + 2))
    assert code == 0, err
    assert load_checkpoint(checkpoints / "last.pt")["step"] == step + 2
    assert not list(checkpoints.glob(".*.tmp")) and (tmp_path / "run" / "manifest.json").exists()


def test_default_workspace_and_export_only(cli, config, tmp_path):
    make_dataset(tmp_path / "framegen-work" / "dataset")
    code, _, err = cli("train", "--config", config, "--max-steps", "1", "--precision", "bf16", *FAST)
    assert code == 0, err
    export = tmp_path / "framegen-work" / "run" / "export"
    (export / "model.safetensors").unlink()
    code, out, _ = cli("train", "--export")
    assert code == 0 and "exported step 1" in out
    load_exported(export)


def test_refusals_are_one_line(cli, dataset, config, tmp_path):
    code, _, err = cli("train", "--max-steps", "1")
    assert code == 3 and "framegen-work/dataset: no such folder" in err
    code, _, err = cli("train", dataset, "-o", "run", "--resume")
    assert code == 3 and "no checkpoint to resume" in err
    code, _, err = cli("train", dataset, dataset, "--mix", "1,2,3")
    assert code == 2 and "3 weights for 2 datasets" in err
    code, _, err = cli("train", dataset, "--config", config, "--crop", "40")
    assert code == 2 and "multiples of the model's 16 px" in err
    code, _, err = cli("train", dataset, "--config", config, "--precision", "fp16", "--device", "cpu")
    assert code == 2 and "fp16 needs CUDA" in err

    assert cli("train", dataset, "-o", "run", "--config", config, "--max-steps", "1", *FAST)[0] == 0
    code, _, err = cli("train", dataset, "-o", "run", "--config", config, "--max-steps", "1")
    assert code == 2 and "--resume continues it" in err

    last = tmp_path / "run" / "checkpoints" / "last.pt"
    state = torch.load(last, weights_only=True)
    save_checkpoint(last, state | {"arch": "flowgan"})
    code, _, err = cli("train", "-o", "run", "--resume", "--max-steps", "2")
    assert code == 3 and "arch 'flowgan', not 'mipal'" in err and len(err.strip().splitlines()) == 1

    best = tmp_path / "run" / "checkpoints" / "best.pt"
    best.write_bytes(best.read_bytes()[:1000])
    code, _, err = cli("train", "-o", "run", "--export")
    assert code == 3 and "truncated or corrupt" in err and "Traceback" not in err


def test_tensorboard_gets_the_metrics_when_installed(cli, dataset, config, monkeypatch):
    logged = []

    class SummaryWriter:  # stands in for torch.utils.tensorboard's, which needs the tensorboard package
        def __init__(self, logdir):
            logged.append(("logdir", logdir, 0))

        def add_scalar(self, name, value, step):
            logged.append((name, value, step))

        def flush(self):
            pass

        def close(self):
            logged.append(("closed", None, None))

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=SummaryWriter))
    assert cli("train", dataset, "-o", "run", "--config", config, "--max-steps", "1", *FAST)[0] == 0
    assert logged[0][1].endswith("tensorboard") and logged[-1][0] == "closed"
    assert {("psnr", 1), ("crossfade_psnr", 1), ("loss_g", 1)} <= {(name, step) for name, _, step in logged}


def test_sampler_is_a_pure_function_of_seed_and_epoch():
    sampler = WindowSampler([5, 3], None, seed=3, rank=0, world_size=1)
    epoch = sampler.epoch_samples(0)
    assert sorted((d, i) for d, i, _ in epoch) == [(0, i) for i in range(5)] + [(1, i) for i in range(3)]
    assert epoch == WindowSampler([5, 3], None, seed=3, rank=0, world_size=1).epoch_samples(0)
    assert epoch != sampler.epoch_samples(1)
    sampler.set_epoch(0, skip=3)
    assert list(sampler) == epoch[3:] and len(sampler) == 5

    ranks = [WindowSampler([5, 3], None, seed=3, rank=r, world_size=3).epoch_samples(0) for r in range(3)]
    assert [len(r) for r in ranks] == [3, 3, 3]  # 8 windows padded to 9
    assert {s[:2] for r in ranks for s in r} == {s[:2] for s in epoch}


def test_mix_weights_datasets_and_validation_uses_movie_data(tmp_path):
    mixed = WindowSampler([100, 10], [0.5, 0.5], seed=0, rank=0, world_size=1)
    draws = [d for epoch in range(5) for d, _, _ in mixed.epoch_samples(epoch)]
    assert 0.4 < draws.count(1) / len(draws) < 0.6  # the small dataset makes up half despite 10x fewer windows
    only_first = WindowSampler([100, 10], [1.0, 0.0], seed=0, rank=0, world_size=1)
    assert {d for d, _, _ in only_first.epoch_samples(0)} == {0}

    movie = make_dataset(tmp_path / "movie")
    synthetic = make_dataset(tmp_path / "synthetic", kind="synthetic", seed=5)
    config = TrainConfig(datasets=[str(movie), str(synthetic)], mix=[0.7, 0.3])
    train_sets, val_sets, _, size = open_training_data(config)
    assert [d.folder for d in train_sets] == [movie, synthetic]
    assert [d.folder for d in val_sets] == [movie] and size == (64, 64)
    config = TrainConfig(datasets=[str(movie), str(synthetic)], validate_synthetic=True)
    assert len(open_training_data(config)[1]) == 2


def test_train_mixes_datasets_from_the_cli(cli, config, tmp_path, monkeypatch):
    """Two datasets and --mix on the command line: the run draws its windows from both, weighted as given,
    and validates on the movie dataset's windows only."""
    real_open_data, opened = loop.open_data, []

    def open_data(*args):  # the run's data phase, kept to look at
        opened.append(real_open_data(*args))
        return opened[-1]

    monkeypatch.setattr(loop, "open_data", open_data)
    movie = make_dataset(tmp_path / "movie", train=6)
    synthetic = make_dataset(tmp_path / "synthetic", train=4, kind="synthetic", seed=5)
    code, _, err = cli("train", movie, synthetic, "--mix", "0.7,0.3", "-o", "run", "--config", config,
                       "--max-steps", "1", *FAST)
    assert code == 0, err
    [data] = opened
    assert data.sampler.lengths == [6, 4] and data.sampler.weights == [0.7, 0.3]
    drawn = [d for epoch in range(20) for d, _, _ in data.sampler.epoch_samples(epoch)]
    assert 0.2 < drawn.count(1) / len(drawn) < 0.4  # the synthetic windows make up about 0.3 of what is drawn
    assert [windows.folder for windows in data.val_sets] == [movie]
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert len(manifest["datasets"]) == 2


# ---------------------------------------------------------------------------------------------- `auto`'s decision


class FadeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LearnedFade(torch.nn.Module):
    """The smallest honest generator: frame0 + a t (frame1 - frame0), one learned number a. Untrained (a = 0)
    it holds frame 0 for every t; it can learn the cross-fade (a = 1), not motion."""

    size_multiple = 1

    def __init__(self, config: FadeConfig):
        super().__init__()
        self.a = torch.nn.Parameter(torch.zeros(()))

    def forward(self, frame0, frame1, times, targets=None, intermediates=False):
        weight = (self.a * times)[:, :, None, None, None]  # (B, K, 1, 1, 1)
        frames = frame0[:, None] + weight * (frame1 - frame0)[:, None]  # (B, K, 3, H, W)
        return {"frames": frames} if intermediates else frames


class FadeLoss(torch.nn.Module):
    needs_targets = False

    def __init__(self, config: FadeConfig):
        super().__init__()

    def forward(self, outputs, targets):
        return {"l2": (outputs["frames"] - targets).pow(2).mean()}


@pytest.fixture
def fade_arch(monkeypatch, tmp_path) -> Path:
    """Registers the test-only arch `fade` and returns a train.toml for it."""
    monkeypatch.setitem(registry.ARCHS, "fade", registry.Arch("fade", FadeConfig, LearnedFade, adversarial=False))
    monkeypatch.setitem(losses.LOSSES, "fade", (FadeConfig, FadeLoss))
    config = tmp_path / "fade.toml"
    config.write_text('arch = "fade"\nlr = 0.5\nlr_schedule = "cosine"\nema = 0\nsample_windows = 0\n')
    return config


def test_a_model_that_beats_flow_on_held_out_windows_is_what_auto_picks(cli, fade_arch, tmp_path):
    # brightness fades: flow warps, a cross-fade is exact; 6 held-out windows, so the gain's spread is measured
    dataset = make_fade_dataset(tmp_path / "fades", train=16, val=6)
    run = tmp_path / "framegen-work" / "run"  # the default workspace's: interpolate considers it by itself
    code, out, err = cli("train", dataset, "--config", fade_arch, "--max-steps", "24", *FAST)
    assert code == 0, err
    assert out.strip().splitlines()[-1] == ("--engine auto uses this run (the workspace's): "
                                            "framegen interpolate A B -o out.gif")
    metadata = json.loads((run / "export" / "model.json").read_text())["metadata"]
    assert metadata["beats_flow"] is True
    assert metadata["validation_windows"] == [{"dataset": str(dataset), "split": "val", "indices": list(range(6))}]

    # the numbers are the scorer's, on those windows: flow's and the exported model's
    held_out = [open_windows(dataset, "val", None)]
    flow = score_engine(get_engine("flow"), held_out).overall.large_gap
    model = score_engine(get_engine("model", run / "export"), held_out).overall.large_gap
    assert metadata["flow_validation"] == pytest.approx(flow.metrics())
    assert metadata["validation"] == pytest.approx(model.metrics())
    gain = metadata["flow_gain"]  # window by window, what decided beats_flow
    assert gain["windows"] == 6 and gain["gain"] == pytest.approx(model.psnr - flow.psnr, abs=1e-4)
    assert gain["gain"] > gain["margin"] > 0
    untrained = score_engine(ModelEngine(LearnedFade(FadeConfig())), held_out).overall.large_gap
    assert untrained.psnr < flow.psnr < model.psnr  # training made the difference: untrained, it holds frame 0

    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [8, 16, 24] and rows[-1]["beats_flow"] == "1"
    assert len({r["flow_psnr"] for r in rows}) == 1  # flow's score does not change during a run

    fade = held_out[0].window(0)  # uint8 (T, H, W, 3)
    Image.fromarray(fade[0]).save(tmp_path / "a.png")
    Image.fromarray(fade[-1]).save(tmp_path / "b.png")
    code, out, err = cli("interpolate", "a.png", "b.png", "-o", "out.gif")
    assert code == 0, err
    assert "(model engine)" in out
    assert err.strip() == f"auto uses the model in {Path('framegen-work/run/export')}: it beat flow on held-out real windows"


def test_a_model_that_lost_to_flow_leaves_auto_on_flow_and_says_why(cli, fade_arch, dataset, tmp_path):
    # moving squares: a cross-fade cannot follow them, flow can
    code, out, err = cli("train", dataset, "-o", "run", "--config", fade_arch, "--max-steps", "6", *FAST)
    assert code == 0, err
    assert "--engine auto does not use this run (it scored" in out
    assert out.strip().endswith("to use it anyway: framegen interpolate A B --engine model --checkpoint run -o out.gif")
    metadata = json.loads((tmp_path / "run" / "export" / "model.json").read_text())["metadata"]
    assert metadata["beats_flow"] is False and metadata["validation"]["psnr"] < metadata["flow_validation"]["psnr"]

    frames = moving_square_frames(8, size=(64, 64))
    Image.fromarray(frames[0]).save(tmp_path / "a.png")
    Image.fromarray(frames[7]).save(tmp_path / "b.png")
    code, out, err = cli("interpolate", "a.png", "b.png", "--engine", "auto", "--checkpoint",
                         tmp_path / "run" / "export", "-o", "out.gif")
    assert code == 0, err
    assert "(flow engine)" in out
    why = [line for line in err.splitlines() if "auto uses flow" in line]
    assert len(why) == 1
    assert f"{metadata['validation']['psnr']:.2f} dB PSNR against flow's {metadata['flow_validation']['psnr']:.2f} dB" \
        in why[0] and "2 held-out windows" in why[0]


def test_metrics_rows_with_new_columns_keep_every_row_aligned(tmp_path):
    """A run's first validation (step 0 of a fine-tuning run) has no losses yet: later rows that add them
    rewrite the file with the union of the columns; earlier rows get empty values there."""
    from framegen.core.training.log import append_metrics

    path = tmp_path / "metrics.csv"
    append_metrics(path, {"step": 0, "psnr": 27.28})
    append_metrics(path, {"step": 50, "psnr": 27.3, "loss_g": 0.1})
    append_metrics(path, {"step": 100, "psnr": 27.31, "loss_g": 0.09})
    append_metrics(path, {"step": 150, "loss_g": 0.08})  # no validation: psnr empty
    with open(path) as f:
        rows = list(csv.reader(f))
    assert rows == [["step", "psnr", "loss_g"], ["0", "27.28", ""], ["50", "27.3", "0.1"], ["100", "27.31", "0.09"],
                    ["150", "", "0.08"]]


# ---------------------------------------------------------------------------------------------- a first run


def test_a_cpu_run_without_model_settings_trains_the_small_model_and_says_so(capsys, tmp_path):
    from framegen.commands.train import resolve_train_config

    flags = {"datasets": [str(make_dataset(tmp_path / "ds"))], "device": "cpu"}
    config = resolve_train_config(dict(flags), None, None, full_size=False)
    assert (config.model["width"], config.model["refiner_depth"], config.crop, config.batch_size) == (0.25, 6, 128, 4)
    console.release_held()  # the command line says it once the run goes on
    said = capsys.readouterr().err
    assert "the small mipal model" in said and "--full-size trains the full model" in said
    assert resolve_train_config(dict(flags), None, None, full_size=True).model["width"] == 1.0
    assert resolve_train_config(dict(flags, crop=64), None, None, full_size=False).crop == 64  # a flag wins
    console.drop_held()
    explicit = resolve_train_config(dict(flags), tiny_config(tmp_path), None, full_size=False)
    assert (explicit.model["width"], explicit.crop) == (0.125, None)  # [model] settings win, crop untouched
    console.release_held()
    assert capsys.readouterr().err == ""  # said only when it picks the small model


def test_the_shipped_small_recipe_is_what_a_cpu_run_picks(tmp_path):
    from framegen.commands.train import resolve_train_config

    flags = {"datasets": [str(make_dataset(tmp_path / "ds"))], "device": "cpu"}
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "small.toml"
    assert resolve_train_config(dict(flags), recipe, None, full_size=True) == \
        resolve_train_config(dict(flags), None, None, full_size=False)


def test_train_help_starts_with_examples_and_states_every_default(cli):
    code, out, _ = cli("train", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert text.index("Examples:") < text.index("Options") and "framegen train --epochs 3" in text
    assert all(arch in text for arch in ("mipal", "rife4", "rife3hd"))
    from framegen.commands.train import run

    for name, parameter in inspect.signature(run).parameters.items():
        option = parameter.default
        if option.default is False:  # a flag
            continue
        assert "default" in option.help.lower(), name


def test_the_progress_line_fits_80_columns_with_step_total_and_time_left():
    from framegen.core.training.log import progress_line

    losses = {"g": 0.41234567, "refined_l1": 0.1, "ms_ssim": 0.2, "adversarial": 0.3, "d": 1.98765}
    line = progress_line(3, 10, 45, 330, 192.0, 1201.0, losses, width=80)
    assert len(line) <= 80
    assert "epoch 3/10" in line and "step 45/330" in line and "3:12 elapsed" in line and "20:01 left" in line
    assert "g 0.4123" in line and "d 1.988" in line
    long = progress_line(1000, 1000, 1_000_000, 1_000_000, 360000.0, 360000.0, losses, width=80)
    assert len(long) <= 80 and "step 1000000/1000000" in long and "100:00:00 left" in long


def test_checkpoints_are_also_written_by_time_and_the_log_has_whole_lines(cli, dataset, config, tmp_path):
    code, _, err = cli("-v", "train", dataset, "-o", "run", "--config", config, "--max-steps", "2",
                       "--checkpoint-every", "1000", "--checkpoint-minutes", "0.00001", *FAST)
    assert code == 0, err
    assert (tmp_path / "run" / "checkpoints" / "step-00000001.pt").exists()  # neither an epoch's end nor the last
    breakdown = [line for line in err.splitlines() if line.startswith("step 1: ") and line.endswith("windows/s")]
    assert len(breakdown) == 1 and "refined_l1" in breakdown[0]  # every term, on one line however long
    assert re.search(r"first step [\d.]+ s: about \d+:\d\d an epoch \(3 steps\)", err)
    assert re.search(r"memory: about [\d.]+ GB at peak", err)


# ---------------------------------------------------------------------------------------------- memory


def test_the_memory_estimate_grows_with_the_model_batch_and_crop():
    from framegen.core.training.memory import estimate_memory

    small = TrainConfig(model={"width": 0.25, "refiner_depth": 6}, crop=128)
    a = estimate_memory(small, (128, 128), 8)
    assert a.state < estimate_memory(TrainConfig(), (256, 256), 8).state
    assert a.activations < estimate_memory(small.model_copy(update={"batch_size": 8}), (128, 128), 8).activations
    assert a.scaled(4, (256, 256)).activations == 4 * a.activations
    assert 10e9 < estimate_memory(TrainConfig(), (256, 256), 8).total < 20e9  # the issue measured 13 GB
    with pytest.raises(UsageError, match="128x128 training frames are too small for this model"):
        estimate_memory(TrainConfig(), (128, 128), 8)  # the full refiner goes down to 1 px from 256


def test_rife3hd_is_estimated_too_from_one_small_real_step_that_leaves_the_random_state_alone():
    """rife3hd's step reads values (its bisection plan), so it runs once for real on one small window; what it
    saves grows with the batch and the pixels, and the run's torch random state is as it was."""
    from framegen.core.training.memory import estimate_memory

    config = TrainConfig(arch="rife3hd", crop=64, batch_size=1)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    small = estimate_memory(config, (64, 64), 8)
    assert torch.equal(torch.rand(3), expected)
    large = estimate_memory(config.model_copy(update={"batch_size": 4}), (128, 128), 8)
    assert large.activations == pytest.approx(16 * small.activations, rel=0.01)
    assert small.state < large.total < 3e9


def test_small_frames_are_measured_on_one_real_window_to_what_the_meta_trace_gives(monkeypatch):
    """Frames of at most REAL_STEP_PIXELS run one real window instead of the trace on `meta`: the same
    bytes, scaled by the batch, and the run's random state left as it was."""
    from framegen.core.training import memory as training_memory

    config = TrainConfig(arch="rife4", batch_size=2)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    real = training_memory.estimate_memory(config, (64, 64), 8)
    assert torch.equal(torch.rand(3), expected)
    monkeypatch.setattr(training_memory, "REAL_STEP_PIXELS", 0)
    traced = training_memory.estimate_memory(config, (64, 64), 8)
    assert real.activations == pytest.approx(traced.activations, rel=0.01) and real.state == traced.state


def test_a_run_that_cannot_fit_is_refused_with_the_numbers_and_what_fits(cli, dataset, config, tmp_path, monkeypatch):
    from framegen.core.training import memory as training_memory

    needed = training_memory.estimate_memory(TrainConfig(model={"width": 0.125, "refiner_depth": 4}, batch_size=8,
                                                         gan={"discriminator": {"channels": 8, "layers": 2}}),
                                             (64, 64), 8)
    available = needed.scaled(3, needed.crop).total + 1  # three windows of 64 px fit, not eight
    monkeypatch.setattr(training_memory, "available_memory", lambda: available)
    code, _, err = cli("train", dataset, "-o", "run", "--config", config, "--batch-size", "8")
    assert code == 3 and len(err.strip().splitlines()) == 1
    assert f"training needs about {needed.total / 1e9:.1f} GB of memory" in err
    assert f"{available / 1e9:.1f} GB available: --batch-size 3 fits" in err
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------------------------- divergence


def test_a_diverging_run_stops_with_one_line_keeps_the_last_good_checkpoint_and_exports_nothing(cli, fade_arch,
                                                                                              tmp_path):
    dataset = make_fade_dataset(tmp_path / "fades")
    config = fade_arch.read_text().replace("lr = 0.5", "lr = 1e30")  # a = +-1e30 after step 1: frames overflow
    fade_arch.write_text(config)
    code, out, err = cli("-q", "train", dataset, "-o", "run", "--config", fade_arch, "--checkpoint-every", "1",
                         "--max-steps", "10", *FAST)
    assert code == 3 and len(err.strip().splitlines()) == 1, err
    assert "step 2: the training loss is no longer finite (" in err and "l2 = " in err
    assert "last good checkpoint, step 1, is kept" in err
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["step"] == 1
    assert not (tmp_path / "run" / "export").exists() and not (tmp_path / "run" / "manifest.json").exists()


def test_non_finite_weights_are_never_checkpointed_or_exported(tmp_path):
    from framegen.core.errors import InputError
    from framegen.core.training.guard import Diverged, check_weights

    broken = torch.nn.Linear(2, 2)
    with torch.no_grad():
        broken.weight[0, 0] = float("nan")
    with pytest.raises(Diverged, match="step 7: the generator weights are no longer finite"):
        check_weights({"generator": broken}, 7, "no checkpoint was written")
    check_weights({"generator": torch.nn.Linear(2, 2)}, 7, "")
    with pytest.raises(InputError, match="not finite"):
        export_model(tmp_path / "export", "mipal", {}, broken.state_dict(), ExportMetadata())
    assert not (tmp_path / "export" / "model.json").exists()


def test_an_infinite_learning_rate_is_a_usage_error(cli, dataset, config, tmp_path):
    (tmp_path / "inf.toml").write_text("lr = inf\n" + config.read_text())
    code, _, err = cli("train", dataset, "-o", "run", "--config", tmp_path / "inf.toml", "--max-steps", "1")
    assert code == 2 and "lr" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("train", dataset, "-o", "run", "--config", config, "--lr", "inf", "--max-steps", "1")
    assert code == 2 and "lr" in err
