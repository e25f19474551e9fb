"""Hostile files: checkpoints that would run code, manifests whose paths leave their folder, movie names
that a shell would run. (load_checkpoint itself refusing such a pickle: test_checkpoint.py; `-y.mp4` for
extract: test_extract.py.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from helpers.cli import Inputs, copy_input, edit_json, make_inputs, no_output_but, one_error_line, unfiltered_frames
from helpers.media import moving_square_frames, write_video
from helpers.models import Exploit

from framegen.core.formats.frames import FramesManifest
from framegen.core.manifest import read_manifest
from framegen.core.training.checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Inputs:
    return make_inputs(tmp_path_factory.mktemp("inputs"))


def evil_checkpoint(path: Path, marker: Path) -> Path:
    """A file that looks like a framegen checkpoint; unpickling it opens (creates) `marker`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION, "arch": "mipal", "step": 1,
                "config": {"arch": "mipal"}, "generator": Exploit(marker)}, path)
    return path


def evil_export(inputs: Inputs, marker: Path) -> Path:
    """An export folder with a valid model.json whose model.safetensors is that pickle."""
    export = copy_input(inputs.export, "export")
    evil_checkpoint(export / "model.safetensors", marker)
    return export


ENTRY_POINTS = ["train --resume", "train --export", "interpolate --engine model", "interpolate --engine auto",
                "interpolate a .pt", "evaluate --checkpoint", "filter --vgg-weights"]  # every place that loads weights


def entry_point(entry: str, inputs: Inputs, marker: Path) -> tuple[list, str]:
    """The arguments that make `entry` load the pickle, and what its refusal says."""
    if entry.startswith("train"):
        evil_checkpoint(Path("run/checkpoints/last.pt" if "resume" in entry else "run/checkpoints/best.pt"), marker)
        options = ["--resume", "--max-steps", "2"] if "resume" in entry else ["--export"]
        return ["train", "-o", "run", *options], "refusing to unpickle"
    if entry == "filter --vgg-weights":
        weights = evil_checkpoint(Path("vgg16.pth"), marker)
        return ["filter", unfiltered_frames(inputs), "--detector", "vgg16", "--vgg-weights", weights], \
            "not a readable PyTorch weights file"
    if entry == "interpolate a .pt":  # a bare .pt is not an export: refused before it is opened
        weights, message = evil_checkpoint(Path("evil.pt"), marker), "evil.json: no such file"
    else:
        weights, message = evil_export(inputs, marker), "model.safetensors: truncated or corrupt"
    engine = "auto" if "auto" in entry else "model"
    if entry.startswith("evaluate"):
        return ["evaluate", inputs.dataset, "-o", "out.json", "--engine", engine, "--checkpoint", weights], message
    return ["interpolate", inputs.a, inputs.b, "-o", "out.gif", "--engine", engine, "--checkpoint", weights], message


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_pickle_that_runs_code_is_refused_everywhere(cli, inputs, tmp_path, entry):
    """torch.load(weights_only=True) or safetensors everywhere: refused, and its code never runs."""
    marker = tmp_path / "exploited"
    arguments, message = entry_point(entry, inputs, marker)
    code, _, err = cli("-q", *arguments)
    assert code == 3, err
    one_error_line(err, message)
    assert not marker.exists(), "the pickle ran its code"
    assert not any(Path(name).exists() for name in ("out.gif", "out.json", "run/export", "frames/filter.json"))


def absolute_frame(folder: Path) -> None:
    edit_json(folder / "manifest.json", lambda m: m["frames"][0].update(file="/etc/passwd"))


def frame_links_outside(folder: Path) -> None:
    first = folder / json.loads((folder / "manifest.json").read_text())["frames"][0]["file"]
    first.unlink()
    first.symlink_to(Path("elsewhere.png").resolve())  # a file outside the folder, under the manifest's name


def split_links_outside(folder: Path) -> None:
    (folder / "val.npy").rename("elsewhere.npy")
    (folder / "val.npy").symlink_to(Path("elsewhere.npy").resolve())


def scores_file_absolute(folder: Path) -> None:
    outside = Path("elsewhere.csv").resolve()
    outside.write_bytes((folder / "filter_scores.csv").read_bytes())  # readable scores, but not the folder's
    edit_json(folder / "filter.json", lambda m: m.update(scores_file=str(outside)))


def upstream_elsewhere(folder: Path) -> None:
    """filter.json says it was made from another frames folder (a copy: same bytes, right sha256)."""
    other = copy_input(folder, "other")
    edit_json(folder / "filter.json", lambda m: m["upstream"].update(path="../other/manifest.json"))
    assert (other / "manifest.json").read_bytes() == (folder / "manifest.json").read_bytes()


@pytest.mark.parametrize("source, damage, command, message", [
    ("frames", absolute_frame, ["export-gif", "input", "-o", "out.gif"], "points outside its folder"),
    ("frames", frame_links_outside, ["export-gif", "input", "-o", "out.gif"], "points outside its folder"),
    ("dataset", split_links_outside, ["evaluate", "input", "-o", "out.json"], "points outside its folder"),
    ("frames", scores_file_absolute, ["build-dataset", "input", "-o", "out"], "points outside its folder"),
    ("frames", upstream_elsewhere, ["build-dataset", "input", "-o", "out"], "not from this folder"),
])
def test_manifest_paths_stay_inside_their_folder(cli, inputs, source, damage, command, message):
    """Absolute paths and symbolic links out of the folder are refused like `../../etc/passwd` is
    (test_bad_input, test_filter); an upstream manifest must be the folder's own."""
    Path("elsewhere.png").write_bytes(b"not yours")
    folder = copy_input(getattr(inputs, source))
    damage(folder)
    code, _, err = cli("-q", *command)
    assert code == 3, err
    one_error_line(err, message)
    no_output_but("input", "other", "elsewhere.png", "elsewhere.npy", "elsewhere.csv")


SHELL_NAMES = ["$(touch x).mp4", "`touch y`.mp4", "a; touch z;.mp4", "it's \"quoted\" | cat.mp4", "-y.mp4"]


def test_file_names_are_never_run_through_a_shell(cli, tmp_path):
    movie = write_video(tmp_path / "clip.mp4", moving_square_frames(12))
    for name in SHELL_NAMES:
        (tmp_path / name).write_bytes(movie.read_bytes())
        code, _, err = cli("-q", "extract", "-o", f"frames {name}", "--", name)
        assert code == 0, (name, err)
        assert read_manifest(FramesManifest, Path(f"frames {name}")).frame_count == 12
    odd = SHELL_NAMES[0]
    code, _, err = cli("-q", "interpolate", odd, "-o", "$(touch w).mp4", "--engine", "blend")
    assert code == 0, err
    code, _, err = cli("-q", "export-gif", f"frames {odd}", "-o", "-y.gif")
    assert code == 0, err
    assert Path("$(touch w).mp4").stat().st_size > 0 and Path("-y.gif").stat().st_size > 0
    for touched in ("x", "y", "z", "w"):
        assert not Path(touched).exists() and not (tmp_path / touched).exists(), f"a shell ran `touch {touched}`"
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


# ---------------------------------------------------------------------------------------------- --overwrite


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` and its bytes: what must still be there, unchanged."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_overwrite_never_clears_a_folder_that_is_holds_or_lies_in_an_input(cli, inputs):
    """extract into the movie's folder, build-dataset into (above, beside) its frames folder, interpolate's
    --frames-dir holding its images: refused, exit 2, every input byte kept (before, --overwrite deleted them)."""
    Path("mv").mkdir()
    movie = Path("mv", "m.mp4")
    movie.write_bytes(inputs.movie.read_bytes())
    frames = copy_input(inputs.frames, "work/frames")
    Path("fd").mkdir()
    for image in (inputs.a, inputs.b):
        Path("fd", image.name).write_bytes(image.read_bytes())
    Path("fd", "notes.txt").write_text("mine")
    before = tree(Path("."))
    cases = [
        (["extract", movie, "-o", "mv"], "holds the input"),
        (["build-dataset", frames, "-o", frames], "is the input"),
        (["build-dataset", frames, "-o", frames / "dataset"], "lies inside the input"),
        (["build-dataset", frames, "-o", "work"], "holds the input"),
        (["interpolate", "fd/a.png", "fd/b.png", "-o", "out.gif", "--frames-dir", "fd"], "holds the input"),
    ]
    for args, message in cases:
        code, _, err = cli("-q", *args, "--overwrite")
        assert code == 2, (args, err)
        one_error_line(err, message)
    assert tree(Path(".")) == before


def test_overwrite_removes_only_what_framegen_wrote(cli, inputs):
    """Files and subfolders framegen did not write are never removed: a folder holding them is refused,
    with --overwrite too; framegen's own earlier output (frames, filter's files) is replaced."""
    assert cli("-q", "extract", inputs.movie, "-o", "frames", "--every", "2")[0] == 0
    assert cli("-q", "filter", "frames")[0] == 0
    assert cli("-q", "extract", inputs.movie, "-o", "frames", "--overwrite")[0] == 0  # filter's files go too
    assert read_manifest(FramesManifest, Path("frames")).frame_count == 40
    assert not Path("frames", "filter.json").exists()
    Path("frames", "notes.txt").write_text("mine")
    Path("frames", "mine").mkdir()
    Path("frames", "mine", "photo.png").write_bytes(inputs.a.read_bytes())
    before = tree(Path("frames"))
    code, _, err = cli("-q", "extract", inputs.movie, "-o", "frames", "--overwrite")
    assert code == 2
    one_error_line(err, "mine, notes.txt", "did not write")
    assert tree(Path("frames")) == before
    Path("fd").mkdir()
    Path("fd", "notes.txt").write_text("mine")
    code, _, err = cli("-q", "interpolate", inputs.a, inputs.b, "-o", "out.gif", "--frames-dir", "fd",
                       "--overwrite")
    assert code == 2 and Path("fd", "notes.txt").read_text() == "mine" and not Path("out.gif").exists()
    one_error_line(err, "notes.txt")
    code, _, err = cli("-q", "interpolate", inputs.a, inputs.b, "-o", "out.gif", "--frames-dir", "pngs",
                       "--engine", "blend")
    assert code == 0, err
    code, _, err = cli("-q", "interpolate", inputs.a, inputs.b, "-o", "out.gif", "--frames-dir", "pngs",
                       "--engine", "blend", "--times", "0.5", "--overwrite")
    assert code == 0, err
    assert sorted(p.name for p in Path("pngs").iterdir() if not p.name.startswith(".")) == [
        "000.png", "001.png", "002.png"]


def test_model_sizes_in_model_json_are_checked_before_allocating(cli, inputs):
    """A model.json whose architecture sizes describe ~17 peta-parameters: exit 3 with one line, counted on
    the meta device before any weight is allocated (before: torch tried, and failed with exit 1)."""
    export = copy_input(inputs.export, "export")
    edit_json(export / "model.json", lambda data: data["config"].update(width=4, base_channels=10**6))
    code, _, err = cli("-q", "interpolate", inputs.a, inputs.b, "-o", "out.gif", "--engine", "model",
                       "--checkpoint", export)
    assert code == 3, err
    one_error_line(err, "model.json", "parameters is above framegen's limit")
    no_output_but("export")
