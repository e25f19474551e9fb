"""`framegen export-gif`: frames folder or manifest -> GIF/WebP/APNG/MP4; quality, options, atomic writes."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from helpers.media import decode, moving_square_frames, write_video
from helpers.paths import SHARED_DATA

from framegen.core.manifest import atomic_write_bytes
from framegen.core.media.animation import write_animation
from framegen.core.media.images import write_png


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


@pytest.fixture
def frames_folder(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(moving_square_frames(6)):
        write_png(folder / f"f{i:02d}.png", frame)
    return folder


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".png", ".mp4"])
def test_every_format_from_a_folder(cli, frames_folder, tmp_path, suffix):
    out = tmp_path / f"anim{suffix}"
    code, stdout, err = cli("export-gif", frames_folder, "-o", out, "--fps", "10")
    assert code == 0, err
    assert "6 frames at 10 fps" in stdout
    assert len(decode(out, 128, 96)) == 6


def test_pingpong_width_and_name_order(cli, frames_folder, tmp_path):
    code, _, err = cli("export-gif", frames_folder, "-o", tmp_path / "a.png", "--pingpong", "--width", "64")
    assert code == 0, err
    frames = decode(tmp_path / "a.png", 64, 48)
    assert len(frames) == 10  # 0 1 2 3 4 5 4 3 2 1
    assert np.array_equal(frames[4], frames[6]) and not np.array_equal(frames[4], frames[5])


def test_frames_manifest_gives_order_and_frame_rate(cli, tmp_path):
    movie = write_video(tmp_path / "movie.mp4", moving_square_frames(10), fps=30)
    assert cli("extract", movie, "-o", tmp_path / "extracted")[0] == 0
    code, out, err = cli("export-gif", tmp_path / "extracted" / "manifest.json", "-o", tmp_path / "anim.gif")
    assert code == 0, err
    assert "10 frames at 30 fps" in out


def test_rgba_frames_keep_their_transparency(cli, tmp_path):
    folder = tmp_path / "sprites"
    folder.mkdir()
    for i in range(4):
        frame = np.zeros((40, 60, 4), np.uint8)
        frame[10:30, 5 + 8 * i:25 + 8 * i] = (250, 120, 20, 255)
        write_png(folder / f"{i}.png", frame)
    code, _, err = cli("export-gif", folder, "-o", tmp_path / "sprite.gif")
    assert code == 0, err
    frames = decode(tmp_path / "sprite.gif", 60, 40, "rgba")
    assert frames[:, :10, :, 3].max() == 0 and frames[0, 15, 10, 3] == 255


def test_a_failed_write_leaves_the_old_file_and_no_temporary(cli, frames_folder, tmp_path):
    write_png(frames_folder / "f99.png", np.zeros((10, 10, 3), np.uint8))  # a frame of another size
    out = tmp_path / "anim.gif"
    out.write_bytes(b"GIF89a previous animation")
    code, _, err = cli("export-gif", frames_folder, "-o", out)
    assert code == 3 and "same size" in err
    assert out.read_bytes() == b"GIF89a previous animation"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_bad_inputs(cli, tmp_path, frames_folder):
    (tmp_path / "empty").mkdir()
    assert cli("export-gif", tmp_path / "empty", "-o", tmp_path / "a.gif")[0] == 3
    assert cli("export-gif", tmp_path / "nothing", "-o", tmp_path / "a.gif")[0] == 3
    assert cli("export-gif", frames_folder, "-o", tmp_path / "a.jpg")[0] == 2
    assert cli("export-gif", frames_folder, "-o", tmp_path / "a.gif", "--width", "1")[0] == 2


def test_gif_of_the_sample_movie_is_at_least_35_db(cli, sample_movie, tmp_path):
    """Twelve frames of every shot of the sample movie (soft gradients, noise, flat colours, sparkles)."""
    truth = json.loads((SHARED_DATA / "sample_movie.json").read_text())
    w, h = truth["width"], truth["height"]
    movie = decode(sample_movie, w, h)
    folder = tmp_path / "frames"
    folder.mkdir()
    picked = [i for shot in truth["segments"] for i in range(shot["start"] + 20, shot["start"] + 32)]
    for n, index in enumerate(picked):
        write_png(folder / f"{n:04d}.png", movie[index])
    code, _, err = cli("export-gif", folder, "-o", tmp_path / "movie.gif")
    assert code == 0, err
    gif = decode(tmp_path / "movie.gif", w, h)
    assert len(gif) == len(picked)
    for number, shot in enumerate(truth["segments"]):
        scores = [psnr(gif[k], movie[picked[k]]) for k in range(12 * number, 12 * number + 12)]
        assert np.mean(scores) >= 35.0, (shot["name"], np.mean(scores))


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_written_files_get_the_usual_permissions(tmp_path, suffix):
    """Animations (written by ffmpeg into framegen's temporary file) and manifests: mode 0666 less the umask,
    like any file the user makes, not a temporary file's 0600."""
    previous = os.umask(0o027)
    try:
        write_animation(tmp_path / f"out{suffix}", moving_square_frames(4), fps=10)
        atomic_write_bytes(tmp_path / "manifest.json", b"{}\n")
    finally:
        os.umask(previous)
    for name in (f"out{suffix}", "manifest.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o640, name


def test_no_argument_reads_the_workspace_frames_and_writes_beside_them(cli, tmp_path):
    movie = write_video(tmp_path / "movie.mp4", moving_square_frames(8), fps=24)
    assert cli("extract", movie)[0] == 0  # framegen-work/frames (the test runs in its own folder)
    code, out, err = cli("export-gif")
    assert code == 0, err
    assert "framegen-work/animation.gif: 8 frames at 24 fps" in out
    assert len(decode(Path("framegen-work/animation.gif"), 128, 96)) == 8


def test_no_argument_without_a_workspace_says_where_it_looked(cli):
    code, _, err = cli("export-gif")
    assert code == 3 and "framegen-work/frames" in err and len(err.strip().splitlines()) == 1, err


def test_an_output_that_is_one_of_the_frames_is_refused(cli, frames_folder, tmp_path):
    frame = frames_folder / "f00.png"
    before = frame.read_bytes()
    code, _, err = cli("export-gif", frames_folder, "-o", frame)
    assert code == 2 and "is one of the inputs" in err, err
    assert frame.read_bytes() == before


def test_loop_and_size_limits_are_checked_before_the_work(cli, frames_folder, tmp_path):
    code, _, err = cli("export-gif", frames_folder, "-o", tmp_path / "a.webp", "--loop", "65536")
    assert code == 2 and "plays at most 65535" in err, err
    wide = tmp_path / "wide"
    wide.mkdir()
    for i in range(2):
        write_png(wide / f"{i}.png", np.full((16, 16400, 3), 40 * i, np.uint8))
    code, _, err = cli("export-gif", wide, "-o", tmp_path / "a.webp")
    assert code == 2 and "16383 px a side" in err, err
    assert not list(tmp_path.glob("a.webp")) and not list(tmp_path.glob(".a.webp*"))
    code, _, err = cli("export-gif", wide, "-o", tmp_path / "a.webp", "--width", "1640")  # scaled: it fits
    assert code == 0, err
