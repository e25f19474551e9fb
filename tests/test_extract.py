"""`framegen extract`: frames, manifest, options, bad movies, and a kill -9 in the middle."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.media import bad_movies, frames_with_other_pixels, lavfi, moving_square_frames, with_rotation, write_video
from helpers.paths import REPO

from framegen.core.formats.frames import FramesManifest
from framegen.core.manifest import read_manifest, sha256_file
from framegen.core.media.ffmpeg import ffmpeg_binary
from framegen.core.media.images import read_image, read_png_fast
from framegen.core.media.movie import MovieInfo, working_size


@pytest.fixture
def clip(tmp_path) -> tuple[Path, np.ndarray]:
    frames = moving_square_frames(48, size=(96, 128), cuts=(20,))
    return write_video(tmp_path / "clip.mp4", frames), frames


def test_frames_and_manifest(cli, clip):
    movie, original = clip
    code, out, err = cli("extract", movie, "-o", "frames")
    assert code == 0, err
    assert "48 frames" in out and "frames" in out
    manifest = read_manifest(FramesManifest, Path("frames"))
    assert (manifest.source.codec, manifest.fps, manifest.frame_count) == ("h264", "24/1", 48)
    assert (manifest.width, manifest.height) == (128, 96)
    assert manifest.source.sha256 == sha256_file(movie)
    assert manifest.warnings == []
    assert [f.source_index for f in manifest.frames] == list(range(48))
    assert [f.file for f in manifest.frames][:2] == ["000000.png", "000001.png"]
    assert np.allclose([f.timestamp for f in manifest.frames], np.arange(48) / 24)
    for frame in manifest.frames[::5]:  # each PNG is closest to the movie frame its manifest entry names
        image = read_png_fast(Path("frames") / frame.file)
        assert image.shape == (96, 128, 3)
        differences = np.abs(image.astype(int)[None] - original).mean(axis=(1, 2, 3))
        assert differences.argmin() == frame.source_index and differences.min() < 6, frame


def test_frames_are_the_exact_decoded_pixels(cli, clip):
    """The frames' PNG writer (Up filter + ISA-L deflate) is lossless and standard: OpenCV and Pillow both
    read back exactly the RGB that ffmpeg decodes."""
    movie, _ = clip
    assert cli("extract", movie, "-o", "frames")[0] == 0
    raw = subprocess.run([ffmpeg_binary(), "-loglevel", "error", "-i", str(movie), "-f", "rawvideo", "-pix_fmt",
                          "rgb24", "-"], capture_output=True, check=True).stdout
    decoded = np.frombuffer(raw, np.uint8).reshape(48, 96, 128, 3)
    for number in (0, 20, 47):
        path = Path("frames") / f"{number:06d}.png"
        assert np.array_equal(read_png_fast(path), decoded[number])
        assert np.array_equal(read_image(path), decoded[number])


def test_start_end_every_and_max_side(cli, clip):
    movie, _ = clip
    code, _, err = cli("extract", movie, "-o", "part", "--start", "0.5", "--end", "1.5", "--every", "3",
                       "--max-side", "64")
    assert code == 0, err
    manifest = read_manifest(FramesManifest, Path("part"))
    assert [f.source_index for f in manifest.frames] == list(range(12, 36, 3))
    assert np.allclose([f.timestamp for f in manifest.frames], np.arange(12, 36, 3) / 24)
    assert (manifest.width, manifest.height) == (64, 48)
    assert read_png_fast(Path("part") / manifest.frames[0].file).shape == (48, 64, 3)
    assert manifest.parameters == {"max_side": 64, "start": 0.5, "end": 1.5, "every": 3}


def test_fractional_frame_rate_is_kept_as_a_rational(cli, tmp_path):
    movie = write_video(tmp_path / "ntsc.mp4", moving_square_frames(30, size=(48, 64)), fps="24000/1001")
    code, _, err = cli("extract", movie, "-o", "ntsc")
    assert code == 0, err
    manifest = read_manifest(FramesManifest, Path("ntsc"))
    assert manifest.fps == "24000/1001"
    assert [f.source_index for f in manifest.frames] == list(range(30))
    assert manifest.frames[-1].timestamp == pytest.approx(29 * 1001 / 24000)


def test_working_size_keeps_aspect_with_even_sides():
    def info(width, height, display_width=None):
        return MovieInfo("h264", width, height, display_width or width, 24.0, 1.0, 0)

    assert working_size(info(1920, 1080), 640) == (640, 360)
    assert working_size(info(1080, 1920), 640) == (360, 640)
    assert working_size(info(1000, 563), 500) == (500, 282)  # 281.5 -> even
    assert working_size(info(480, 270), 640) == (480, 270)  # never enlarged
    assert working_size(info(480, 271), 0) == (480, 271)  # 0: the movie's own size, odd or not
    assert working_size(info(720, 480, 853), 0) == (853, 480)  # anamorphic: display aspect


def test_file_name_that_looks_like_an_option(cli, clip):
    movie, _ = clip
    odd = movie.parent / "-y.mp4"
    odd.write_bytes(movie.read_bytes())
    code, _, err = cli("extract", "-o", "odd", "--", "-y.mp4")  # the test runs in the clip's folder
    assert code == 0, err
    assert read_manifest(FramesManifest, Path("odd")).frame_count == 48


def test_bad_movies_are_refused_with_one_line(cli, clip, tmp_path):
    movie, _ = clip
    expected = {"missing": "no such file", "folder": "is a folder", "text": "not a readable movie",
                "empty": "empty file", "truncated": "not a readable movie", "audio only": "no video stream",
                "1x1 pixels": "at least 16 pixels"}
    for kind, path in bad_movies(tmp_path, movie).items():
        code, _, err = cli("extract", path, "-o", f"out-{kind}")
        assert code == 3, (kind, err)
        assert expected[kind] in err and len(err.strip().splitlines()) == 1, (kind, err)
        assert not Path(f"out-{kind}", "manifest.json").exists()


def test_movie_cut_after_its_index_keeps_the_frames_that_decode(cli, clip, tmp_path):
    """Decision: with the index intact but the data cut off, the decodable frames are kept and the
    manifest and stderr say what happened (a movie with no decodable frame is refused)."""
    movie, _ = clip
    faststart = tmp_path / "faststart.mp4"
    subprocess.run([ffmpeg_binary(), "-loglevel", "error", "-i", str(movie), "-c", "copy", "-movflags", "+faststart",
                    str(faststart)], check=True)
    data = faststart.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    code, _, err = cli("extract", cut, "-o", "cut")
    assert code == 0, err
    manifest = read_manifest(FramesManifest, Path("cut"))
    assert 0 < manifest.frame_count < 48
    assert any("truncated" in warning for warning in manifest.warnings)
    assert "warning" in err


def test_bad_options_and_non_empty_output(cli, clip):
    movie, _ = clip
    assert cli("extract", movie, "-o", "a", "--start", "2", "--end", "1")[0] == 2
    assert cli("extract", movie, "-o", "a", "--max-side", "4")[0] == 2
    assert cli("extract", movie, "-o", "a", "--every", "0")[0] == 2
    code, _, err = cli("extract", movie, "-o", "a", "--start", "60")
    assert code == 2 and "past the end" in err
    assert cli("extract", movie, "-o", "full", "--every", "2")[0] == 0
    code, _, err = cli("extract", movie, "-o", "full")
    assert code == 2 and "--overwrite" in err
    assert cli("extract", movie, "-o", "full", "--overwrite")[0] == 0
    assert read_manifest(FramesManifest, Path("full")).frame_count == 48  # the new run's frames only
    assert sorted(p.name for p in Path("full").glob("*.png")) == [f"{k:06d}.png" for k in range(48)]


def test_default_folder_is_the_workspace(cli, clip):
    movie, _ = clip
    code, out, _ = cli("extract", movie)
    assert code == 0 and "framegen-work/frames" in out
    assert Path("framegen-work", "frames", "manifest.json").exists()


def test_kill_9_then_rerun_equals_an_uninterrupted_run(cli, tmp_path):
    movie = lavfi(tmp_path / "long.mp4", "testsrc2=size=320x240:rate=24:duration=20",
                  "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "framegen", "-q", "extract", str(movie), "-o", "killed"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not Path("killed", "000050.png").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not Path("killed", "manifest.json").exists(), "extract finished before it could be killed"
    assert Path("killed", ".framegen-partial").exists()

    assert cli("extract", movie, "-o", "killed")[0] == 0  # no --overwrite needed after a crash
    assert cli("extract", movie, "-o", "clean")[0] == 0
    killed, clean = (json.loads(Path(folder, "manifest.json").read_text()) for folder in ("killed", "clean"))
    for key in ("created",):
        killed.pop(key), clean.pop(key)
    killed["command"] = clean["command"] = None
    assert killed == clean
    assert sorted(p.name for p in Path("killed").iterdir()) == sorted(p.name for p in Path("clean").iterdir())
    assert frames_with_other_pixels(Path("killed"), Path("clean"), [frame["file"] for frame in clean["frames"]]) == []


def test_rotated_movie_comes_out_upright_and_the_manifest_says_so(cli, clip):
    """A phone video: its 128x96 frames stored with a quarter turn in the metadata come out 96x128, upright."""
    movie, original = clip
    code, _, err = cli("extract", with_rotation(movie, 90), "-o", "frames")
    assert code == 0, err
    manifest = read_manifest(FramesManifest, Path("frames"))
    assert (manifest.width, manifest.height, manifest.source.rotation) == (96, 128, 90)
    assert (manifest.source.width, manifest.source.height) == (128, 96)
    for frame in manifest.frames[::12]:
        upright = np.rot90(original[frame.source_index]).astype(int)
        assert np.abs(read_png_fast(Path("frames") / frame.file).astype(int) - upright).mean() < 6, frame
