"""A newcomer's first commands: every mistake gets one line that names the next step, counts read as
English, and `framegen` alone shows the help."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.datasets import make_dataset, tiny_config
from helpers.media import moving_square_frames, write_video
from helpers.models import install_random_rife
from PIL import Image

from framegen import console
from framegen.core import progress


@pytest.fixture
def movie(tmp_path) -> Path:
    return write_video(tmp_path / "movie.mp4", moving_square_frames(24))


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_framegen_alone_shows_the_help_and_is_not_an_internal_error(cli):
    code, out, err = cli()
    assert code in (0, 2) and "Usage" in out + err and "extract" in out + err


def test_counts_of_one_are_singular():
    assert console.count(1, "frame") == "1 frame" and console.count(0, "shot") == "0 shots"
    assert console.count(2, "held frame") == "2 held frames"


def test_the_filter_report_says_1_cut_not_1_cuts(cli, tmp_path):
    movie = write_video(tmp_path / "cut.mp4", moving_square_frames(40, cuts=(20,)))
    assert cli("extract", movie)[0] == 0
    code, out, err = cli("filter")
    assert code == 0, err
    assert out.startswith("found 1 cut, 2 shots (")


def test_filter_given_a_movie_says_to_extract_it_first(cli, movie):
    code, _, err = cli("filter", movie)
    assert code == 3
    assert one_line(err).endswith(f"expected the folder `framegen extract` writes (a movie? `framegen extract "
                                  f"{movie}` first)")


def test_train_given_a_frames_folder_says_to_build_a_dataset_first(cli, movie):
    assert cli("extract", movie, "-o", "frames")[0] == 0
    code, _, err = cli("train", "frames", "--device", "cpu")
    assert code == 3
    assert "a frames folder (what `framegen extract` writes), not a dataset: run `framegen build-dataset" in one_line(err)
    assert "schema" not in err


def test_evaluate_given_weights_as_an_engine_names_the_model_engine(cli, tmp_path):
    code, _, err = cli("evaluate", make_dataset(tmp_path / "dataset"), "--engine", "flow,rife4")
    assert code == 2
    assert "--engine model --checkpoint rife4" in one_line(err)


def test_weights_given_as_the_engine_are_named_as_weights(cli, tmp_path):
    """A published name (not installed) in interpolate, an installed one in evaluate: the fix alone, exit 2."""
    for name in ("a.png", "b.png"):
        Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(tmp_path / name)
    code, _, err = cli("interpolate", tmp_path / "a.png", tmp_path / "b.png", "--engine", "rife4")
    assert code == 2
    assert one_line(err) == "error: rife4 is a set of weights, not an engine: use --engine model --checkpoint rife4"
    install_random_rife("rife4", "mine", tmp_path)
    code, _, err = cli("evaluate", make_dataset(tmp_path / "dataset"), "--engine", "flow,mine")
    assert code == 2
    assert one_line(err) == "error: mine is a set of weights, not an engine: use --engine model --checkpoint mine"


def test_weights_fetch_without_a_name_lists_the_names(cli):
    code, _, err = cli("weights", "fetch")
    assert code == 2
    assert "needs a NAME: rife4 or rife3hd (e.g. `framegen weights fetch rife4`)" in one_line(err)


def test_weights_list_has_a_header(cli, tmp_path):
    install_random_rife("rife4", "rife4", tmp_path)
    code, out, err = cli("weights", "list")
    assert code == 0, err
    header, row = out.strip().splitlines()
    assert header.split("\t") == ["name", "arch", "source", "licence", "size"]
    assert row.split("\t")[:2] == ["rife4", "rife4"]


def test_extract_refuses_one_still_image(cli, tmp_path):
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(tmp_path / "pic.png")
    code, _, err = cli("extract", tmp_path / "pic.png")
    assert code == 3
    assert "pic.png: a still image, not a movie" in one_line(err) and "framegen interpolate A B" in err
    assert not Path("framegen-work", "frames").exists()


def test_an_engine_choice_before_an_input_error_is_not_a_second_line(cli, tmp_path):
    """Installed weights: `auto` says what it chose, but a bad pair after the choice is still one line."""
    install_random_rife("rife4", "rife4", tmp_path)
    for name, size in (("a.png", (40, 60)), ("b.png", (50, 60))):
        Image.fromarray(np.zeros((*size, 3), np.uint8)).save(tmp_path / name)
    code, _, err = cli("interpolate", tmp_path / "a.png", tmp_path / "b.png", "-o", tmp_path / "out.gif")
    assert code == 3 and "must have the same size" in one_line(err)


def progress_lines(err: str, description: str, unit: str) -> list[str]:
    return re.findall(rf"^{re.escape(description)}: \d+/\d+ {unit}(?:, [\d.]+ {unit}/s)?(?:, about [\d:]+ left)?$"
                      rf"|^{re.escape(description)}: \d+/\d+ {unit} in [\d:]+$", err, flags=re.MULTILINE)


def test_long_stages_log_progress_lines_when_stderr_is_not_a_terminal(cli, monkeypatch, tmp_path):
    """Captured stderr is not a terminal: with the interval at 0, every stage that loops logs its counts, rate
    and time left, and a last line when done; at the usual minute, a short run logs none."""
    movie = write_video(tmp_path / "movie.mp4", moving_square_frames(60, cuts=(30,)))
    code, _, err = cli("extract", movie)
    assert code == 0 and progress_lines(err, "extract", "frames") == []
    monkeypatch.setattr(progress, "LOG_EVERY_SECONDS", 0)
    code, _, err = cli("extract", movie, "--overwrite")
    lines = progress_lines(err, "extract", "frames")
    assert code == 0 and len(lines) >= 2 and lines[-1].startswith("extract: 60/60 frames in "), err
    assert cli("filter")[0] == 0
    code, _, err = cli("build-dataset", "--size", "64")
    assert code == 0 and progress_lines(err, "build-dataset", "windows"), err
    code, _, err = cli("evaluate", "--engine", "flow", "--split", "train", "-o", tmp_path / "report.json")
    assert code == 0 and progress_lines(err, "evaluate flow", "windows"), err
    code, _, err = cli("evaluate", movie, "--engine", "blend", "-o", tmp_path / "movie.json")
    assert code == 0 and progress_lines(err, "evaluate", "frames"), err
    code, _, err = cli("interpolate", movie, "--factor", "2", "--engine", "flow", "-o", tmp_path / "out.mp4")
    lines = progress_lines(err, "interpolate", "frames")
    assert code == 0 and lines[-1].startswith("interpolate: 120/120 frames in "), err


def test_a_fine_tuning_run_announces_its_validations_and_what_max_minutes_bounds(cli, monkeypatch, tmp_path):
    """The step-0 and the final validation each say what they score before they start and log their progress
    (stderr is not a terminal); --max-minutes says it bounds the steps, and what the end adds after it."""
    install_random_rife("rife4", "rife4", tmp_path)
    (tmp_path / "quick.toml").write_text("sample_windows = 0\n")
    monkeypatch.setattr(progress, "LOG_EVERY_SECONDS", 0)
    code, _, err = cli("train", make_dataset(tmp_path / "ds", train=4, val=1), "-o", "run", "--arch", "rife4",
                       "--init", "rife4", "--crop", "64", "--batch-size", "2", "--max-steps", "2",
                       "--max-minutes", "5", "--config", "quick.toml")
    assert code == 0, err
    lines = err.splitlines()
    assert any(line.endswith("2 steps to go; --max-minutes 5 bounds these steps (with the validations and "
                             "checkpoints between them), not the final validation and export, which come after it")
               for line in lines), err
    start = lines.index("Validating the starting weights, flow and the cross-fade on 1 held-out window ...")
    assert lines[start + 1].startswith("validate flow: 1/1 windows")
    assert any(line.startswith("validate step 0: 1/1 windows in ") for line in lines)
    assert any(re.fullmatch(r"--max-minutes 5: the final validation and the export will add about \d+:\d\d after it "
                            r"\(as long as this validation took, the baselines' scores aside\)", line)
               for line in lines), err
    final = lines.index(f"Validating the final weights on 1 held-out window, then exporting the best checkpoint to "
                        f"{Path('run', 'export')} ...")
    assert any(line.startswith("epoch 1/") and "step 2/2" in line for line in lines[:final]), err
    assert any(line.startswith("validate step 2: 1/1 windows in ") for line in lines[final:]), err
    from framegen.commands.train import run

    assert "the final validation and export come after" in inspect.signature(run).parameters["max_minutes"].default.help


def test_a_one_shot_dataset_says_nothing_will_be_validated_and_evaluate_names_the_fix(cli, tmp_path):
    one_shot = make_dataset(tmp_path / "one-shot", train=4, val=0)
    code, out, err = cli("train", one_shot, "-o", "run", "--config", tiny_config(tmp_path), "--max-steps", "1",
                         "--batch-size", "2")
    assert code == 0, err
    said = [line for line in err.splitlines() if line.startswith("no held-out windows")]
    assert len(said) == 1 and "nothing will be validated" in said[0] and "--engine auto will not prefer it" in said[0]
    assert "validation" not in out and "--engine auto does not use this run" in out
    code, _, err = cli("evaluate", one_shot, "--engine", "blend")
    assert code == 3
    assert one_line(err).endswith("the 'val' split has no windows (build-dataset holds out whole shots, and a movie of "
                                  "one shot has none): --split train scores the training windows, or build the "
                                  "dataset from a movie with more shots")
    code, _, err = cli("evaluate", one_shot, "--engine", "blend", "--split", "train", "-o", tmp_path / "r.json")
    assert code == 0, err


def test_training_sample_gifs_label_their_columns(tmp_path):
    """real | cross-fade | model, named in a strip above the windows: text in the strip, the width unchanged."""
    import torch

    from framegen.core.models.registry import build_generator
    from framegen.core.scoring import open_windows
    from framegen.core.training.validation import Validator

    windows = open_windows(make_dataset(tmp_path / "ds", train=2, val=2, size=64), "val", None)
    path = tmp_path / "samples" / "step-00000000.gif"
    Validator([windows], torch.device("cpu")).write_samples(path, build_generator("rife4", {}), 2)
    with Image.open(path) as gif:
        assert gif.size[0] == 3 * 64 and gif.size[1] > 2 * 64  # three columns, a strip on top of two rows
        first = np.asarray(gif.convert("RGB"))
    strip = first[: gif.size[1] - 2 * 64]
    for column in range(3):
        assert len(np.unique(strip[:, column * 64 : (column + 1) * 64].reshape(-1, 3), axis=0)) > 1, column


def test_video_mode_states_the_network_s_expected_time_before_it_starts(cli, tmp_path):
    """`auto` picks installed (random) rife4: after the analysis, one line with its time and flow's, both timed
    on the first pair; 8 frames at twice the rate make 7 new ones (the last frame is repeated)."""
    install_random_rife("rife4", "rife4", tmp_path)
    movie = write_video(tmp_path / "movie.mp4", moving_square_frames(8))
    code, _, err = cli("interpolate", movie, "--factor", "2", "-o", tmp_path / "out.mp4")
    assert code == 0, err
    lines = err.splitlines()
    cost = [i for i, line in enumerate(lines) if re.fullmatch(
        r"rife4 on 128x96: about \d+ (s|min) for 7 new frames on this CPU \(flow: about \d+ (s|min)\)", line)]
    assert len(cost) == 1 and cost[0] == lines.index("analysing movie.mp4: scene cuts and held frames") + 1, err


def test_interpolate_help_fits_a_screen_at_80_columns():
    """The options in panels of a line or two each (the details are in docs/commands.md)."""
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    help_text = subprocess.run([sys.executable, "-m", "framegen", "interpolate", "--help"], env=env,
                               capture_output=True, text=True, check=True).stdout
    assert len(help_text.splitlines()) <= 80, help_text
    assert max(len(line) for line in help_text.splitlines()) <= 80
    assert all(panel in help_text for panel in ("Two images", "A movie", "Engine", "--adapt-steps"))
