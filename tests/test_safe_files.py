"""Nothing of the user's is overwritten or removed: framegen never writes through a link it did not make,
checks a command before it removes anything, keeps what the user put into its folders at every depth,
refuses single-file outputs that would replace an input or an unrelated file, and reads hostile files
(deep nesting, bad numbers, FIFOs) as one line with exit 3."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from helpers.cli import one_error_line
from helpers.datasets import make_dataset, tiny_config
from helpers.media import moving_square_frames, write_video

from framegen.cli import run_cli
from framegen.core.media.images import write_png
from framegen.core.models.export import load_exported

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


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A folder with a dataset `ds`, `train.toml` and a finished one-step run `run` (trained once a module)."""
    root = tmp_path_factory.mktemp("trained")
    make_dataset(root / "ds")
    tiny_config(root)
    assert run_cli(["-q", "train", str(root / "ds"), "-o", str(root / "run"), "--config", str(root / "train.toml"),
                    "--max-steps", "1", *FAST]) == 0
    return root


@pytest.fixture
def finished_run(trained, tmp_path) -> Path:
    """A copy of `trained` in the test's folder; its run."""
    for name in ("ds", "run", "train.toml"):
        copy = shutil.copytree if (trained / name).is_dir() else shutil.copyfile
        copy(trained / name, tmp_path / name)
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


# ---------------------------------------------------------------------------------------------- checks first


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("options, code, message", [
    (["--init", "no-such-weights"], 3, "no-such-weights"),
    (["--crop", "512"], 3, "crop 512 is larger"),
    (["--arch", "rife4", "--config", "plain.toml", "--init", "export"], 2, "arch 'mipal'"),
    (["--init", "run"], 2, "the output folder is the input run"),
    (["--init", "run/export"], 2, "the output folder holds the input run/export"),
])
def test_train_overwrite_checks_the_command_before_it_removes_the_old_run(cli, finished_run, tmp_path, options,
                                                                        code, message):
    (tmp_path / "plain.toml").write_text("")
    (tmp_path / "export").mkdir()
    for file in (finished_run / "export").iterdir():  # weights of the same mipal model, outside the run
        (tmp_path / "export" / file.name).write_bytes(file.read_bytes())
    before = snapshot(finished_run)
    result, _, err = cli("-q", "train", "ds", "-o", "run", "--config", "train.toml", "--overwrite", "--max-steps",
                         "1", "--crop", "64", *FAST, *options)
    assert result == code, err
    one_error_line(err, message)
    assert snapshot(finished_run) == before


def test_extract_overwrite_refuses_a_range_without_frames_before_it_removes_the_old_frames(cli, frames):
    before = snapshot(frames)
    code, _, err = cli("-q", "extract", "movie.mp4", "-o", "frames", "--overwrite", "--start", "0.1", "--end", "0.11")
    assert code == 2, err
    one_error_line(err, "no frames between --start and --end")
    assert snapshot(frames) == before


def test_synth_overwrite_refuses_a_dataset_the_disk_cannot_hold_before_it_removes_the_old_one(cli, tmp_path,
                                                                                           monkeypatch):
    assert cli("-q", "synth", "-o", "ds", "--windows", "2", "--size", "32", "--workers", "1")[0] == 0
    before = snapshot(tmp_path / "ds")
    held = sum(len(data) for data in before.values())
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1_000_000))  # 1 MB left
    code, _, err = cli("-q", "synth", "-o", "ds", "--windows", "100", "--size", "64", "--overwrite")
    assert code == 3, err
    one_error_line(err, "the dataset needs")
    assert snapshot(tmp_path / "ds") == before and held < 1_000_000


# ---------------------------------------------------------------------------------------------- single files


@pytest.fixture
def pair(tmp_path) -> list[str]:
    frames = moving_square_frames(4)
    write_png(tmp_path / "a.png", frames[0])
    write_png(tmp_path / "b.png", frames[3])
    return ["a.png", "b.png"]


def refused_and_kept(cli, arguments: list, file: Path, message: str) -> None:
    before = file.read_bytes()
    code, _, err = cli("-q", *arguments)
    assert code == 2, err
    one_error_line(err, message)
    assert file.read_bytes() == before


@pytest.mark.parametrize("output, message", [
    ("ds/manifest.json", "lies inside the input folder ds"),
    ("ds/val.npy", "lies inside the input folder ds"),
    ("movie.mp4", "not framegen's earlier output"),
])
def test_evaluate_never_replaces_a_dataset_file_or_an_unrelated_file(cli, movie, tmp_path, output, message):
    make_dataset(tmp_path / "ds")
    arguments = ["evaluate", "ds", "--engine", "blend", "--max-windows", "1", "-o", output]
    refused_and_kept(cli, arguments, tmp_path / output, message)
    if output == "movie.mp4":
        assert cli("-q", *arguments, "--overwrite")[0] == 0
        assert json.loads((tmp_path / output).read_text())["results"]  # the movie is gone, a report in its place
        assert cli("-q", *arguments)[0] == 0  # an earlier report is replaced without asking


def test_evaluate_gif_is_checked_before_the_work(cli, tmp_path):
    make_dataset(tmp_path / "ds")
    (tmp_path / "notes.gif").write_text("the user's notes")
    refused_and_kept(cli, ["evaluate", "ds", "--engine", "blend", "--gif", "notes.gif", "-o", "report.json"],
                     tmp_path / "notes.gif", "not framegen's earlier output")
    assert not (tmp_path / "report.json").exists()


def test_interpolate_replaces_an_earlier_animation_only(cli, pair, tmp_path):
    (tmp_path / "notes.gif").write_text("the user's notes")
    arguments = ["interpolate", *pair, "--engine", "blend", "--frames", "1", "-o", "notes.gif"]
    refused_and_kept(cli, arguments, tmp_path / "notes.gif", "not framegen's earlier output")
    assert cli("-q", *arguments, "--overwrite")[0] == 0
    assert (tmp_path / "notes.gif").read_bytes().startswith(b"GIF8")  # the notes are gone, an animation there
    assert cli("-q", *arguments)[0] == 0


def test_export_gif_writes_nothing_into_its_frames_folder_nor_over_another_file(cli, pair, tmp_path):
    (tmp_path / "frames").mkdir()
    for name in pair:
        shutil.copyfile(tmp_path / name, tmp_path / "frames" / name)
    code, _, err = cli("-q", "export-gif", "frames", "-o", "frames/c.png")
    assert code == 2, err
    one_error_line(err, "lies inside the input folder frames")
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == pair
    (tmp_path / "notes.webp").write_text("the user's notes")
    refused_and_kept(cli, ["export-gif", "frames", "-o", "notes.webp"], tmp_path / "notes.webp",
                     "not framegen's earlier output")


def test_train_export_replaces_an_earlier_export_only(cli, finished_run):
    model_json = finished_run / "export" / "model.json"
    assert cli("-q", "train", "-o", "run", "--export")[0] == 0  # over its own earlier export
    model_json.write_text("the user's notes")
    refused_and_kept(cli, ["train", "-o", "run", "--export"], model_json, "not framegen's earlier output")
    assert cli("-q", "train", "-o", "run", "--export", "--overwrite")[0] == 0
    assert load_exported(finished_run / "export")[1].arch == "mipal"  # the notes replaced by the export's own


# ---------------------------------------------------------------------------------------------- every depth


def test_overwrite_keeps_a_file_the_user_put_into_a_subfolder_framegen_made(cli, finished_run):
    mine = finished_run / "checkpoints" / "mine.txt"
    mine.write_bytes(VICTIM)
    before = snapshot(finished_run)
    code, _, err = cli("-q", "train", "ds", "-o", "run", "--config", "train.toml", "--overwrite", "--max-steps", "1",
                       *FAST)
    assert code == 2, err
    one_error_line(err, "checkpoints/mine.txt", "did not write")
    assert snapshot(finished_run) == before
    mine.unlink()
    assert cli("-q", "train", "ds", "-o", "run", "--config", "train.toml", "--overwrite", "--max-steps", "1",
               *FAST)[0] == 0


def test_a_rerun_over_a_killed_run_keeps_what_the_user_put_into_its_subfolders(cli, tmp_path, monkeypatch):
    from framegen.core.training import loop

    def killed(*session_and_signals):
        raise KeyboardInterrupt  # as a kill after the last checkpoint: the marker stays, no manifest

    make_dataset(tmp_path / "ds")
    train = ["-q", "train", "ds", "-o", "run", "--config", tiny_config(tmp_path), "--max-steps", "2",
             "--checkpoint-every", "1", *FAST]
    with monkeypatch.context() as patch:
        patch.setattr(loop, "finish", killed)
        assert cli(*train)[0] == 130
    run = tmp_path / "run"
    assert (run / ".framegen-partial").exists() and (run / "checkpoints" / "last.pt").exists()
    (run / "checkpoints" / "mine.gif").write_bytes(VICTIM)
    code, _, err = cli(*train, "--overwrite")
    assert code == 2, err
    one_error_line(err, "checkpoints/mine.gif")
    assert (run / "checkpoints" / "mine.gif").read_bytes() == VICTIM
    (run / "checkpoints" / "mine.gif").unlink()
    code, _, err = cli(*train, "--overwrite")  # what the killed run wrote, at every depth, is replaced
    assert code == 0, err


# ---------------------------------------------------------------------------------------------- readers

DEEP_JSON = "[" * 100_000 + "]" * 100_000
DEEP_TOML = "a = " + "[" * 100_000 + "]" * 100_000 + "\n"


@pytest.fixture
def frames(cli, movie, tmp_path) -> Path:
    assert cli("-q", "extract", movie, "-o", "frames")[0] == 0
    return tmp_path / "frames"


def test_deeply_nested_json_and_toml_are_one_line_exit_3(cli, frames, pair, tmp_path):
    (tmp_path / "deep.toml").write_text(DEEP_TOML)
    code, _, err = cli("-q", "export-gif", "frames", "-o", "out.gif", "--config", "deep.toml")
    assert code == 3, err
    one_error_line(err, "deep.toml", "nested too deeply")

    (frames / "manifest.json").write_text(DEEP_JSON)
    code, _, err = cli("-q", "export-gif", "frames", "-o", "out.gif")
    assert code == 3, err
    one_error_line(err, "manifest.json", "nested too deeply")

    export = tmp_path / "export"
    export.mkdir()
    (export / "model.json").write_text(DEEP_JSON)
    (export / "model.safetensors").write_bytes(b"\0" * 16)
    code, _, err = cli("-q", "interpolate", *pair, "-o", "out.gif", "--engine", "model", "--checkpoint", "export")
    assert code == 3, err
    one_error_line(err, "model.json", "nested too deeply")


@pytest.mark.parametrize("fps", ["0/0", "1/0", "abc", "nan", "0/1", "-24/1", "inf"])
def test_a_bad_frame_rate_in_a_frames_manifest_is_one_line_exit_3(cli, frames, fps):
    manifest = json.loads((frames / "manifest.json").read_text())
    manifest["fps"] = fps
    (frames / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = cli("-q", "export-gif", "frames", "-o", "out.gif")
    assert code == 3, err
    one_error_line(err, "manifest.json", "fps", repr(fps))
    assert not Path("out.gif").exists()


def test_an_empty_dataset_array_is_one_line_exit_3_not_a_stop(cli, tmp_path):
    make_dataset(tmp_path / "ds")
    (tmp_path / "ds" / "val.npy").write_bytes(b"")
    code, _, err = cli("-q", "evaluate", "ds", "--engine", "blend", "-o", "report.json")
    assert code == 3, err
    one_error_line(err, "val.npy", "empty or truncated")


@pytest.fixture
def fifo_watchdog():
    """Make FIFOs; after a few seconds, open each for writing once, so that a command blocked in opening one
    goes on (and the test fails instead of hanging)."""
    fifos, timers = [], []

    def make(path: Path) -> Path:
        path.unlink(missing_ok=True)
        os.mkfifo(path)
        fifos.append(path)
        timer = threading.Timer(FIFO_PATIENCE, release, [path])
        timer.start()
        timers.append(timer)
        return path

    yield make
    for timer in timers:
        timer.cancel()


FIFO_PATIENCE = 8.0  # s


def release(fifo: Path) -> None:
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # a blocked reader gets its writer, then EOF
    except OSError:
        pass  # nobody is reading it: nothing blocked


def test_a_fifo_is_refused_at_once_everywhere(cli, frames, pair, tmp_path, fifo_watchdog):
    make_dataset(tmp_path / "ds")
    commands = {
        "frames/000002.png": ["filter", "frames"],
        "frames/filter_scores.csv": ["build-dataset", "frames", "-o", "windows"],
        "a.png": ["interpolate", "a.png", "b.png", "--engine", "blend", "-o", "out.gif"],
        "clip.mp4": ["interpolate", "clip.mp4", "--engine", "blend", "-o", "out.mp4"],
        "frames/000003.png": ["export-gif", "frames", "-o", "out.gif"],
        "ds/val.npy": ["evaluate", "ds", "--engine", "blend", "-o", "report.json"],
        "config.toml": ["export-gif", "frames", "-o", "out.gif", "--config", "config.toml"],
    }
    for name, command in commands.items():
        if command[0] == "build-dataset":
            assert cli("-q", "filter", "frames")[0] == 0
        original = (tmp_path / name).read_bytes() if (tmp_path / name).exists() else None
        fifo = fifo_watchdog(tmp_path / name)
        started = time.monotonic()
        code, _, err = cli("-q", *command)
        assert time.monotonic() - started < FIFO_PATIENCE, f"{command} blocked on the FIFO {name}"
        assert code == 3, (command, err)
        one_error_line(err, name, "not a regular file")
        fifo.unlink()
        if original is not None:
            fifo.write_bytes(original)


def test_a_run_listed_by_an_earlier_framegen_top_level_only_is_still_replaced_whole(cli, finished_run):
    written = finished_run / ".framegen-written"
    names = written.read_text().splitlines()
    assert "checkpoints" in names
    written.write_text("\n".join(name for name in names if "/" not in name) + "\n")
    stale = finished_run / "checkpoints" / "step-000099.pt"  # a checkpoint the new run will not write
    stale.write_bytes(b"an earlier, longer run's checkpoint")
    code, _, err = cli("-q", "train", "ds", "-o", "run", "--config", "train.toml", "--overwrite", "--max-steps", "1",
                       *FAST)
    assert code == 0, err
    assert not stale.exists() and (finished_run / "checkpoints" / "last.pt").exists()


def test_evaluate_refuses_one_new_path_for_both_the_report_and_the_gif(cli, tmp_path):
    make_dataset(tmp_path / "ds")
    code, _, err = cli("evaluate", tmp_path / "ds", "--engine", "blend", "-o", tmp_path / "same.gif",
                       "--gif", tmp_path / "same.gif")
    assert code == 2 and "both --gif and -o" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "same.gif").exists()
