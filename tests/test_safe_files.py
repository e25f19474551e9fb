"""Nothing of the user's is overwritten or removed: framegen never writes through a link it did not make,
checks a command before it removes anything, keeps what the user put into its folders at every depth,
refuses single-file outputs that would replace an input or an unrelated file, and reads hostile files
(deep nesting, bad numbers, FIFOs) as one line with exit 3."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import moving_square_frames, write_video
from test_bad_input import one_error_line
from window_datasets import make_dataset, tiny_config

from framegen.core.media.images import write_png

FAST = ["--batch-size", "2", "--seed", "1"]
VICTIM = b"the user's own file\n"


@pytest.fixture
def movie(tmp_path) -> Path:
    return write_video(tmp_path / "movie.mp4", moving_square_frames(6))


@pytest.fixture
def victim(tmp_path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_bytes(VICTIM)
    return path


def plant_link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(Path("../" * (len(link.relative_to(Path.cwd()).parts) - 1)) / target.name)
    assert link.resolve() == target.resolve()


# ---------------------------------------------------------------------------------------------- links


@pytest.mark.parametrize("name", [".framegen-partial", ".framegen.lock", ".framegen-written"])
def test_a_link_planted_in_an_output_folder_is_never_written_through(cli, movie, victim, tmp_path, name):
    plant_link(tmp_path / "out" / name, victim)
    code, _, err = cli("-q", "extract", movie, "-o", "out")
    assert code == 3, err
    one_error_line(err, name, "symbolic link")
    assert victim.read_bytes() == VICTIM


def test_a_dangling_lock_link_creates_no_file(cli, movie, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / ".framegen.lock").symlink_to("../made-by-framegen.txt")
    code, _, err = cli("-q", "extract", movie, "-o", "out")
    assert code == 3, err
    assert not (tmp_path / "made-by-framegen.txt").exists()


def test_interpolate_frames_dir_does_not_write_through_a_planted_marker(cli, victim, tmp_path):
    frames = moving_square_frames(4)
    write_png(tmp_path / "a.png", frames[0])
    write_png(tmp_path / "b.png", frames[3])
    plant_link(tmp_path / "steps" / ".framegen-partial", victim)
    code, _, err = cli("-q", "interpolate", "a.png", "b.png", "-o", "out.gif", "--frames-dir", "steps",
                       "--engine", "blend")
    assert code == 3, err
    one_error_line(err, "symbolic link")
    assert victim.read_bytes() == VICTIM


@pytest.fixture
def finished_run(cli, tmp_path) -> Path:
    dataset = make_dataset(tmp_path / "ds")
    code, _, err = cli("-q", "train", dataset, "-o", "run", "--config", tiny_config(tmp_path), "--max-steps", "1",
                       *FAST)
    assert code == 0, err
    return tmp_path / "run"


def test_resume_of_a_received_run_does_not_write_through_its_links(cli, finished_run, victim, tmp_path):
    """A run folder from someone else: metrics.csv and the checkpoints folder are links to the user's files."""
    (finished_run / "metrics.csv").unlink()
    plant_link(finished_run / "metrics.csv", victim)
    code, _, err = cli("-q", "train", "-o", "run", "--resume", "--max-steps", "3")
    assert code == 3, err
    one_error_line(err, "metrics.csv", "symbolic link")
    assert victim.read_bytes() == VICTIM

    (finished_run / "metrics.csv").unlink()
    elsewhere = tmp_path / "elsewhere"
    (finished_run / "checkpoints").rename(elsewhere)
    (elsewhere / "step-00000000.pt").write_bytes(VICTIM)  # a file of the user's that old checkpoints are named like
    (finished_run / "checkpoints").symlink_to("../elsewhere")
    code, _, err = cli("-q", "train", "-o", "run", "--resume", "--max-steps", "3")
    assert code == 3, err
    one_error_line(err, "checkpoints", "symbolic link")
    assert (elsewhere / "step-00000000.pt").read_bytes() == VICTIM
