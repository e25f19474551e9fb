"""A newcomer's first commands: every mistake gets one line that names the next step, counts read as
English, and `framegen` alone shows the help."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import install_random_rife, moving_square_frames, write_video
from PIL import Image
from window_datasets import make_dataset

from framegen import console


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
