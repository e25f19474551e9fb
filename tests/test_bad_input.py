"""Bad input in every stage: one `error:` line on stderr, the documented exit code, nothing half-written.

Exit codes (framegen/core/errors.py): 2 usage, 3 bad input or a file system that refuses, 4 external tool.
Cases that other test files already check for real are not repeated here:
- extract: missing, folder, text .mp4, empty, truncated (two ways), audio only, 1x1 (test_extract.py);
- interpolate: inputs of different sizes, a text file, a missing B, RGBA -> RGBA (test_interpolate.py);
- manifests: filter on a frames manifest of an unknown schema_version or with ../../etc/passwd, build-dataset
  on a filter.json of an unknown schema_version, a path outside, or a changed upstream (test_filter.py,
  test_build_dataset.py); build-dataset of a movie with no window (test_build_dataset.py);
- checkpoints: train --resume of another arch, train --export of a truncated best.pt (test_train.py).
Every test runs in its own empty folder (conftest); inputs live in a module folder elsewhere, so "nothing
written" is checked as: the test's folder holds no file afterwards (besides the inputs it copied in).
"""

from __future__ import annotations

import array
import errno
import fcntl
import os
import struct
import subprocess
import sys
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pytest
import torch
from helpers.cli import (
    Inputs,
    copy_input,
    edit_json,
    make_inputs,
    no_output_but,
    one_error_line,
    unfiltered_frames,
    written,
)
from helpers.media import bad_movies, textured_square_frames
from helpers.paths import REPO
from PIL import Image

from framegen.core.formats.dataset import DatasetManifest, DatasetWriter
from framegen.core.media import animation, images
from framegen.core.media.images import read_image
from framegen.core.stages import extract, filter as filter_stage
from framegen.core.training import checkpoint
from framegen.core.training.checkpoint import save_checkpoint

ENOSPC_TEXT = os.strerror(errno.ENOSPC)  # "No space left on device"


# ---------------------------------------------------------------------------------------------- inputs


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Inputs:
    return make_inputs(tmp_path_factory.mktemp("inputs"))


# ---------------------------------------------------------------------------------------------- paths


def test_bad_movies_in_interpolate_video_mode(cli, inputs, tmp_path):
    """The movie refusals of test_extract, through interpolate's video mode (which probes on its own)."""
    folder = tmp_path / "movies"
    folder.mkdir()
    expected = {"missing": "no such file", "folder": "is a folder", "text": "not a readable movie",
                "empty": "empty file", "truncated": "not a readable movie", "audio only": "no video stream",
                "1x1 pixels": "at least 16 pixels"}
    for kind, path in bad_movies(folder, inputs.movie).items():
        code, _, err = cli("-q", "interpolate", path, "-o", "out.mp4")
        assert code == 3, (kind, err)
        one_error_line(err, expected[kind])
        no_output_but("movies")


@pytest.mark.parametrize("args, message", [
    (["filter", "missing"], "no such folder"),
    (["build-dataset", "missing", "-o", "out"], "no such folder"),
    (["build-dataset", "{movie}", "-o", "out"], "is a file, expected the folder `framegen extract` writes (a movie?"),
    (["train", "missing", "-o", "out"], "no such folder"),
    (["evaluate", "missing", "-o", "out.json"], "no framegen/dataset manifest here"),
    (["evaluate", "{a}", "-o", "out.json"], "a still image; evaluate takes dataset folders or one movie"),
    (["export-gif", "missing", "-o", "out.gif"], "no such file"),
    (["synth", "-o", "out", "--windows", "2", "--textures", "missing"], "no such textures folder"),
    (["interpolate", "{frames}", "{b}", "-o", "out.gif"], "is a folder, expected an image file"),
    (["interpolate", "{a}", "{b}", "-o", "out.gif", "--engine", "model", "--checkpoint", "missing"],
     "missing: no such export folder or run folder, and no installed weights"),
    (["interpolate", "{a}", "{b}", "-o", "out.gif", "--config", "{frames}"], "is a folder, expected a TOML config"),
    (["extract", "{movie}", "-o", "out", "--config", "missing.toml"], "config file not found"),
    (["train", "{dataset}", "-o", "out", "--config", "{movie}"], "not a readable TOML config"),
])
def test_missing_paths_and_the_wrong_kind_of_path(cli, inputs, args, message):
    paths = {"movie": inputs.movie, "frames": inputs.frames, "dataset": inputs.dataset, "a": inputs.a, "b": inputs.b}
    code, _, err = cli("-q", *[a.format(**paths) for a in args])
    assert code == 3, err
    one_error_line(err, message)
    no_output_but()


# ---------------------------------------------------------------------------------------------- images


def save_16_bit_gray(rgb: np.ndarray, path: Path) -> None:
    Image.fromarray(rgb[..., 1].astype(np.uint16) * 257).save(path)  # mode I;16: 8-bit values scaled up exactly


def save_16_bit_rgb(rgb: np.ndarray, path: Path) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)


def save_palette(rgb: np.ndarray, path: Path, transparent: bool = False) -> None:
    image = Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=64)
    if transparent:
        image.info["transparency"] = int(np.asarray(image)[0, 0])  # the top-left colour is see-through
    image.save(path)


def half_opaque(rgb: np.ndarray) -> np.ndarray:
    """An alpha channel: transparent left half, opaque right half."""
    alpha = np.zeros(rgb.shape[:2], np.uint8)
    alpha[:, rgb.shape[1] // 2:] = 255
    return alpha


KINDS = {  # kind -> (writer of the PNG from uint8 RGB, channels of the animation)
    "16-bit grayscale": (save_16_bit_gray, 3),
    "16-bit RGB": (save_16_bit_rgb, 3),
    "8-bit grayscale": (lambda rgb, path: Image.fromarray(rgb[..., 1]).save(path), 3),
    "palette": (save_palette, 3),
    "palette with a transparent colour": (lambda rgb, path: save_palette(rgb, path, transparent=True), 4),
    "grayscale with alpha": (lambda rgb, path: Image.fromarray(np.dstack([rgb[..., 1], half_opaque(rgb)])).save(path),
                             4),
}


@pytest.mark.parametrize("kind", KINDS)
def test_png_kinds_are_converted(cli, inputs, tmp_path, kind):
    """16-bit, grayscale and palette PNGs become RGB, those with alpha RGBA (RGBA itself: test_interpolate)."""
    save, channels = KINDS[kind]
    rgb = textured_square_frames(8)[7]
    b = tmp_path / "b.png"
    save(rgb, b)
    code, out, err = cli("interpolate", inputs.a, b, "-o", "out.gif", "--frames", "2", "--frames-dir", "frames")
    assert code == 0, err
    assert ("RGBA" if channels == 4 else "RGB ") in out
    last = read_image(Path("frames/003.png"))  # B as framegen read it
    expected = {"16-bit grayscale": np.repeat(rgb[..., 1:2], 3, axis=2), "16-bit RGB": rgb,
                "8-bit grayscale": np.repeat(rgb[..., 1:2], 3, axis=2)}.get(kind)
    if expected is None:  # palette and alpha kinds: Pillow's own conversion
        expected = np.asarray(Image.open(b).convert("RGBA" if channels == 4 else "RGB"))
    assert last.shape == (96, 128, channels) and np.array_equal(last, expected)
    if channels == 4:
        assert last[..., 3].min() == 0 and last[..., 3].max() == 255  # real transparency, carried through


def test_floating_point_image_is_refused(cli, inputs, tmp_path):
    """A float TIFF has no agreed range; Pillow's conversion would make values in 0..1 black."""
    Image.fromarray(np.random.default_rng(0).random((96, 128), np.float32)).save(tmp_path / "float.tiff")
    code, _, err = cli("-q", "interpolate", inputs.a, tmp_path / "float.tiff", "-o", "out.gif")
    assert code == 3
    one_error_line(err, "float.tiff: a 32-bit floating-point image")
    no_output_but("float.tiff")


@pytest.mark.parametrize("damage", ["truncated", "garbled", "header only"])
def test_corrupt_jpeg(cli, inputs, tmp_path, damage):
    Image.open(inputs.b).save(tmp_path / "b.jpg", quality=90)
    data = (tmp_path / "b.jpg").read_bytes()
    bad = {"truncated": data[: len(data) // 2], "garbled": data[:600] + bytes(len(data) - 600),
           "header only": data[:2] + bytes(500)}[damage]
    (tmp_path / "bad.jpg").write_bytes(bad)
    code, _, err = cli("-q", "interpolate", inputs.a, tmp_path / "bad.jpg", "-o", "out.gif")
    assert code == 3
    one_error_line(err, "bad.jpg")
    no_output_but("b.jpg", "bad.jpg")


def png_bomb(path: Path, width: int, height: int) -> Path:
    """A valid 1-bit black PNG of width x height pixels that is only kilobytes on disk (its rows compress
    to almost nothing): a decoder would need width x height bytes, three times that as RGB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte + packed bits
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, grayscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return path


def test_20000x20000_image_is_refused_before_decoding(cli, inputs, tmp_path):
    bomb = png_bomb(tmp_path / "huge.png", 20000, 20000)
    assert bomb.stat().st_size < 100_000
    code, _, err = cli("-q", "interpolate", inputs.a, bomb, "-o", "out.gif")
    assert code == 3
    one_error_line(err, "huge.png", "larger than framegen handles")
    no_output_but("huge.png")
    # the peak memory of a process that only reads it (VmHWM: its own; a child's ru_maxrss would count the
    # pages it shared with pytest before exec): decoding would take 400 MB, 1.2 GB as RGB
    if not Path("/proc/self/status").exists():
        pytest.skip("no /proc to read peak memory from")
    reader = subprocess.run([sys.executable, "-c", READ_AND_REPORT_PEAK, str(bomb)], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    message, peak_kb = reader.stdout.strip().splitlines()
    assert "larger than framegen handles" in message
    assert int(peak_kb) < 300_000, f"peak RSS {int(peak_kb) // 1024} MB"


@pytest.mark.parametrize("stage", ["filter", "build-dataset"])
def test_huge_image_in_a_frames_folder_is_refused_before_decoding(cli, inputs, stage):
    """A 9000x9000 PNG (81 megapixels, under Pillow's own bomb limit) put in place of a frame: the frames
    readers check its header against the 64-megapixel limit before OpenCV decodes it (before: decoded)."""
    frames = unfiltered_frames(inputs) if stage == "filter" else copy_input(inputs.frames, "frames")
    png_bomb(frames / "000003.png", 9000, 9000)
    code, _, err = cli("-q", stage, frames, *(["-o", "data"] if stage == "build-dataset" else []))
    assert code == 3, err
    one_error_line(err, "000003.png: 9000x9000 is larger than framegen handles (64 megapixels)")


@pytest.mark.parametrize("kind", ["JPEG", "PNG"])
def test_exif_orientation_is_applied_and_said_with_v(cli, tmp_path, kind):
    """A photo stored sideways with EXIF orientation 6 (turn 90 degrees clockwise to view) is read upright,
    and -v says so; before, it was processed sideways."""
    stored = np.zeros((48, 64, 3), np.uint8)  # landscape as stored: a white block in the top-left corner
    stored[:16, :16] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    paths = []
    for name, shift in (("a", 0), ("b", 8)):
        image = np.roll(stored, shift, axis=1)
        path = tmp_path / f"{name}.{kind.lower()}"
        Image.fromarray(image).save(path, kind, exif=exif, **({"quality": 95} if kind == "JPEG" else {}))
        paths.append(path)
    upright = read_image(paths[0])
    assert upright.shape == (64, 48, 3)  # portrait
    assert np.abs(upright.astype(int) - np.rot90(stored, -1)).mean() < 3  # the block is now top-right
    code, _, err = cli("-v", "interpolate", *paths, "-o", "out.gif", "--engine", "blend", "--frames", "1")
    assert code == 0, err
    said = " ".join(err.split())  # (rich wraps -v lines at the terminal's width)
    assert f"{paths[0].name}: turned upright as its EXIF orientation says (turned 90 degrees clockwise)" in said
    assert Image.open("out.gif").size == (48, 64)


READ_AND_REPORT_PEAK = """
import sys
from framegen.core.media.images import read_image
try:
    read_image(sys.argv[1])
except Exception as e:
    print(e)
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")))
"""


# ---------------------------------------------------------------------------------------------- manifests


def drop(field: str):
    return lambda data: data.pop(field)


def outside(data: dict) -> None:  # the first file a manifest names now points at /etc/passwd
    if "splits" in data:
        data["splits"]["val"]["file"] = "../../etc/passwd"
    else:
        data["frames"][0]["file"] = "../../etc/passwd"


@pytest.mark.parametrize("stage, source, manifest, change, message", [
    ("filter", "frames", "manifest.json", drop("fps"), "invalid manifest field fps: missing"),
    ("build-dataset", "frames", "filter.json", drop("shots"), "invalid manifest field shots: missing"),
    ("export-gif", "frames", "manifest.json", drop("frames"), "invalid manifest field frames"),
    ("export-gif", "frames", "manifest.json", lambda m: m.update(schema_version=99), "schema_version 99"),
    ("export-gif", "frames", "manifest.json", outside, "points outside its folder"),
    ("train", "dataset", "manifest.json", drop("splits"), "invalid manifest field splits"),
    ("train", "dataset", "manifest.json", lambda m: m.update(schema_version=99), "schema_version 99"),
    ("train", "dataset", "manifest.json", outside, "points outside its folder"),
    ("evaluate", "dataset", "manifest.json", drop("window_length"), "invalid manifest field window_length"),
    ("evaluate", "dataset", "manifest.json", lambda m: m.update(schema_version=0), "schema_version 0"),
    ("evaluate", "dataset", "manifest.json", outside, "points outside its folder"),
])
def test_damaged_manifests(cli, inputs, stage, source, manifest, change, message):
    folder = copy_input(getattr(inputs, source))
    edit_json(folder / manifest, change)
    args = {"filter": [folder], "build-dataset": [folder, "-o", "out"], "export-gif": [folder, "-o", "out.gif"],
            "train": [folder, "-o", "out", "--config", inputs.config, "--max-steps", "1"],
            "evaluate": [folder, "-o", "out.json"]}[stage]
    code, _, err = cli("-q", stage, *args)
    assert code == 3
    one_error_line(err, message)
    no_output_but("input")


def test_datasets_with_zero_windows(cli, inputs):
    Path("empty").mkdir()
    DatasetWriter(Path("empty"), {"train": 0, "val": 0}, 8, 64, 64).finish(
        {**DatasetManifest.header({}), "kind": "movie"})
    code, _, err = cli("-q", "train", "empty", "-o", "run", "--config", inputs.config)
    assert code == 3
    one_error_line(err, "no training windows")
    code, _, err = cli("-q", "evaluate", "empty", "-o", "report.json")
    assert code == 3
    one_error_line(err, "'val' split has no windows")
    no_output_but("empty")


@pytest.mark.parametrize("args", [
    ["train", "{dataset}", "-o", "out", "--epochs", "0"],
    ["train", "{dataset}", "-o", "out", "--batch-size", "-4"],
    ["train", "{dataset}", "-o", "out", "--max-steps", "0"],
    ["train", "{dataset}", "-o", "out", "--checkpoint-every", "-1"],
    ["interpolate", "{a}", "{b}", "-o", "out.gif", "--frames", "0"],
    ["interpolate", "{a}", "{b}", "-o", "out.gif", "--fps", "-12"],
    ["export-gif", "{frames}", "-o", "out.gif", "--fps", "0"],
    ["evaluate", "{dataset}", "-o", "out.json", "--max-windows", "0"],
    ["build-dataset", "{frames}", "-o", "out", "--window-length", "1"],
    ["extract", "{movie}", "-o", "out", "--max-side", "-5"],
])
def test_out_of_range_numbers_are_usage_errors(cli, inputs, args):
    paths = {"movie": inputs.movie, "frames": inputs.frames, "dataset": inputs.dataset, "a": inputs.a, "b": inputs.b}
    code, _, err = cli("-q", *[a.format(**paths) for a in args])
    assert code == 2, err
    one_error_line(err, "invalid value for")
    no_output_but()


# ---------------------------------------------------------------------------------------------- checkpoints


def model_users(inputs: Inputs, checkpoint: Path) -> list[list]:
    """The two commands that load an exported model given with --checkpoint."""
    return [["interpolate", inputs.a, inputs.b, "-o", "out.gif", "--engine", "model", "--checkpoint", checkpoint],
            ["evaluate", inputs.dataset, "-o", "out.json", "--engine", "model", "--checkpoint", checkpoint]]


@pytest.mark.parametrize("change, message", [
    (lambda m: m["config"].update(width=0.25), "weights do not match arch 'mipal'"),
    (lambda m: m.update(arch="flowgan"), "unknown arch 'flowgan'"),
])
def test_exported_model_of_another_architecture(cli, inputs, change, message):
    export = copy_input(inputs.export)
    edit_json(export / "model.json", change)
    for command in model_users(inputs, export):
        code, _, err = cli("-q", *command)
        assert code == 3, err
        one_error_line(err, message)
        no_output_but("input")


def test_truncated_checkpoints(cli, inputs):
    export = copy_input(inputs.export)
    weights = export / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    for command in model_users(inputs, export):
        code, _, err = cli("-q", *command)
        assert code == 3, err
        one_error_line(err, "model.safetensors: truncated or corrupt weights")
    last = Path("run/checkpoints/last.pt")
    last.parent.mkdir(parents=True)
    save_checkpoint(last, {"arch": "mipal", "step": 1, "weights": torch.zeros(10_000)})
    last.write_bytes(last.read_bytes()[:20_000])
    code, _, err = cli("-q", "train", "-o", "run", "--resume", "--max-steps", "2")
    assert code == 3
    one_error_line(err, "last.pt: truncated or corrupt checkpoint")
    no_output_but("input", "run/checkpoints/last.pt")


# ---------------------------------------------------------------------------------------------- file system

FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, FS_IMMUTABLE_FL = 0x80086601, 0x40086602, 0x10  # linux/fs.h, 64-bit


@contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """Make `folder` refuse new files for real while in the block.

    A normal user: chmod 0o500 (EACCES). Root ignores permission bits (these tests run as root in the dev
    container), so there: the immutable attribute (`chattr +i`, EPERM), which stops root as well. Skips
    where neither is possible. Either way a probe write must fail before the test goes on."""
    folder = Path(folder)
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o500)
        undo = lambda: folder.chmod(mode)  # noqa: E731
    else:
        descriptor = os.open(folder, os.O_RDONLY)
        flags = array.array("l", [0])
        try:
            fcntl.ioctl(descriptor, FS_IOC_GETFLAGS, flags, True)
            fcntl.ioctl(descriptor, FS_IOC_SETFLAGS, array.array("l", [flags[0] | FS_IMMUTABLE_FL]))
        except OSError as e:
            os.close(descriptor)
            pytest.skip(f"running as root and cannot set the immutable attribute here ({e.strerror})")

        def undo():
            fcntl.ioctl(descriptor, FS_IOC_SETFLAGS, flags)
            os.close(descriptor)
    try:
        with pytest.raises(OSError):
            (folder / "probe").write_text("written?")
        yield folder
    finally:
        undo()


STAGES = ["extract", "filter", "build-dataset", "synth", "train", "interpolate", "interpolate --frames-dir",
          "export-gif", "evaluate"]


def writing(inputs: Inputs, stage: str, into: str) -> list:
    """The arguments of a run of `stage` that writes its output into the folder `into` (filter: into the
    frames folder ./frames, which it needs made first: `unfiltered_frames`)."""
    return {
        "extract": ["extract", inputs.movie, "-o", f"{into}frames"],
        "filter": ["filter", "frames"],
        "build-dataset": ["build-dataset", inputs.frames, "-o", f"{into}ds", "--size", "32"],
        "synth": ["synth", "-o", f"{into}ds", "--windows", "2", "--size", "32", "--workers", "1"],
        "train": ["train", inputs.dataset, "-o", f"{into}run", "--config", inputs.config, "--max-steps", "1"],
        "interpolate": ["interpolate", inputs.a, inputs.b, "-o", f"{into}out.gif"],
        "interpolate --frames-dir": ["interpolate", inputs.a, inputs.b, "-o", "out.gif", "--frames-dir", f"{into}f"],
        "export-gif": ["export-gif", inputs.frames, "-o", f"{into}out.gif"],
        "evaluate": ["evaluate", inputs.dataset, "-o", f"{into}report.json", "--engine", "blend"],
    }[stage]


@pytest.mark.parametrize("stage", STAGES)
def test_output_in_a_read_only_folder(cli, inputs, stage):
    Path("ro").mkdir()
    locked = unfiltered_frames(inputs) if stage == "filter" else Path("ro")
    before = written()
    with read_only(locked):
        code, _, err = cli("-q", *writing(inputs, stage, "ro/"))
    assert code == 3, err
    one_error_line(err)
    assert any(reason in err for reason in ("Permission denied", "Operation not permitted")), err
    assert ".tmp" not in err, err  # names the output asked for, not a temporary file
    assert written() == before


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, ENOSPC_TEXT)


@contextmanager
def full_disk(stage: str) -> Iterator[None]:
    """Simulate a full disk where `stage` writes, until the block ends: the function it writes with
    raises ENOSPC (the PNG frames: from the third one), or, for animations, ffmpeg really writes to /dev/full."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        if stage == "extract":
            monkeypatch.setattr(extract, "_write_png", fails_after(2, extract._write_png))
        elif stage == "filter":
            monkeypatch.setattr(filter_stage, "atomic_write_bytes", no_space)
        elif stage in ("build-dataset", "synth"):
            monkeypatch.setattr(os, "posix_fallocate", no_space, raising=False)
        elif stage == "train":
            real_open = open
            monkeypatch.setattr(checkpoint, "open", lambda *a, **k: FullFile(real_open(*a, **k)), raising=False)
        elif stage in ("interpolate", "export-gif"):
            if not Path("/dev/full").exists():
                pytest.skip("no /dev/full here")
            command = animation.ffmpeg_command
            monkeypatch.setattr(animation, "ffmpeg_command",
                                lambda *a, **k: [*command(*a, **k)[:-1], "file:/dev/full"])
        elif stage == "interpolate --frames-dir":
            monkeypatch.setattr(images, "atomic_write_bytes", no_space)
        else:  # evaluate: its report
            monkeypatch.setattr(os, "fsync", no_space)
        yield


def fails_after(count: int, write):
    """`write(path, data)` that finds the disk full after `count` calls."""
    calls = []

    def writer(path, data):
        calls.append(path)
        if len(calls) > count:
            raise OSError(errno.ENOSPC, ENOSPC_TEXT, str(path))
        write(path, data)

    return writer


class FullFile:
    """A file opened for writing (the checkpoint) on a disk that fills up after its first 4 kB."""

    def __init__(self, file):
        self.file, self.size = file, 0

    def write(self, data):
        self.size += len(data)
        if self.size > 4096:
            raise OSError(errno.ENOSPC, ENOSPC_TEXT)
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


@pytest.mark.parametrize("stage", STAGES)
def test_full_disk_while_writing(cli, inputs, stage):
    """Exit 3, one line, no manifest, animation, checkpoint or temporary file; a stage folder keeps its
    partial marker (and the frames written before the disk filled), so the same command works again."""
    if stage == "filter":
        unfiltered_frames(inputs)
    args = writing(inputs, stage, "")
    if stage == "train":
        args += ["--checkpoint-every", "1"]
    before = written()
    with full_disk(stage):
        code, _, err = cli("-q", *args)
    assert code == 3, err
    one_error_line(err, ENOSPC_TEXT)
    left = [f for f in written() if f not in before]
    assert not any(f.endswith((".json", ".tmp", ".gif", ".pt", ".safetensors")) for f in left), left
    if stage != "train":  # (a train step takes seconds; test_train shows a run folder left mid-way resumes)
        assert cli("-q", *args)[0] == 0, "the same command works once there is space again"
