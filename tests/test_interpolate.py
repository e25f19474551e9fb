"""`framegen interpolate`: two images -> an animation (+ the --frames-dir contract), and video mode."""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, SHARED_DATA, install_random_rife, moving_square_frames, write_video
from PIL import Image
from test_engines import textured_square_frames

from framegen.core.media.ffmpeg import ffmpeg_binary
from framegen.core.media.images import read_image, write_png
from framegen.core.stages.interpolate import plan_segments


def decode(path: Path, width: int, height: int, pix_fmt: str = "rgb24") -> np.ndarray:
    """Every frame of an animation or movie, uint8 (N, H, W, 3|4)."""
    done = subprocess.run([ffmpeg_binary(), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", pix_fmt,
                           "-"], capture_output=True, check=True)
    channels = 4 if pix_fmt == "rgba" else 3
    return np.frombuffer(done.stdout, np.uint8).reshape(-1, height, width, channels)


def has_audio(path: Path) -> bool:
    probe = subprocess.run([ffmpeg_binary(), "-hide_banner", "-i", str(path)], capture_output=True)
    return "Audio:" in probe.stderr.decode()


@pytest.fixture
def pair(tmp_path) -> tuple[Path, Path]:
    frames = textured_square_frames(8)
    write_png(tmp_path / "a.png", frames[0])
    write_png(tmp_path / "b.png", frames[7])
    return tmp_path / "a.png", tmp_path / "b.png"


def test_two_frames_make_an_8_frame_gif_without_a_checkpoint(cli, pair, tmp_path):
    code, out, err = cli("interpolate", *pair, "-o", tmp_path / "out.gif", "--frames-dir", tmp_path / "frames")
    assert code == 0, err
    assert "out.gif" in out and "8 frames" in out and "flow engine" in out
    assert len(decode(tmp_path / "out.gif", 128, 96)) == 8
    # frame 3 shows the square in between, much closer to the real frame 3 than a cross-fade is
    source = textured_square_frames(8).astype(int)
    made = read_image(tmp_path / "frames" / "003.png").astype(int)
    crossfade = (4 * source[0] + 3 * source[7]) / 7
    assert np.abs(made - source[3]).mean() < np.abs(crossfade - source[3]).mean() / 2


def test_frames_dir_contract(cli, pair, tmp_path):
    code, _, err = cli("interpolate", *pair, "-o", tmp_path / "out.webp", "--frames-dir", tmp_path / "frames")
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "frames").glob("*.png"))
    assert names == [f"{i:03d}.png" for i in range(8)]
    first, last = read_image(tmp_path / "frames" / "000.png"), read_image(tmp_path / "frames" / "007.png")
    assert np.array_equal(first, read_image(pair[0])) and np.array_equal(last, read_image(pair[1]))
    assert all(read_image(tmp_path / "frames" / n).shape == (96, 128, 3) for n in names)
    # a second run into the same folder is refused unless --overwrite; with it, the folder holds the new frames
    code, _, err = cli("interpolate", *pair, "-o", tmp_path / "out.gif", "--frames-dir", tmp_path / "frames",
                       "--times", "0.5")
    assert code == 2 and "--overwrite" in err
    code, _, _ = cli("interpolate", *pair, "-o", tmp_path / "out.gif", "--frames-dir", tmp_path / "frames",
                     "--times", "0.5", "--overwrite")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "frames").glob("*.png")) == ["000.png", "001.png", "002.png"]


def test_checkpoint_by_installed_name_rgba_and_device(cli, tmp_path):
    install_random_rife("rife4", "rife4", tmp_path)
    rng = np.random.default_rng(6)
    for name in ("a.png", "b.png"):
        write_png(tmp_path / name, rng.integers(0, 256, (37, 53, 4), dtype=np.uint8))
    code, out, err = cli("interpolate", tmp_path / "a.png", tmp_path / "b.png", "--engine", "model", "--checkpoint",
                         "rife4", "--device", "cpu", "-o", tmp_path / "out.png", "--frames-dir", tmp_path / "frames")
    assert code == 0, err
    assert "8 frames of 53x37 RGBA (model engine)" in out
    assert read_image(tmp_path / "frames" / "003.png").shape == (37, 53, 4)
    code, out, err = cli("interpolate", tmp_path / "a.png", tmp_path / "b.png", "-o", tmp_path / "auto.gif")
    assert code == 0 and "model engine" in out and "auto uses the installed rife4 weights" in err


def test_a_missing_checkpoint_name_is_one_line_naming_what_was_looked_for(cli, pair, tmp_path):
    install_random_rife("rife3hd", "hd", tmp_path)
    code, _, err = cli("interpolate", *pair, "--engine", "model", "--checkpoint", "rife4", "-o", tmp_path / "o.gif")
    assert code == 3 and len(err.strip().splitlines()) == 1
    assert "rife4: no such export folder or run folder, and no installed weights of that name in" in err
    assert "framegen-home" in err and "(installed: hd;" in err and "framegen weights fetch rife4|rife3hd" in err
    code, _, err = cli("interpolate", *pair, "--engine", "model", "--device", "tpu", "-o", tmp_path / "o.gif")
    assert code == 2 and "device" in err


def test_video_mode_with_rife_weights_by_name(cli, tmp_path):
    install_random_rife("rife4", "rife4", tmp_path)
    movie = write_video(tmp_path / "movie.mp4", moving_square_frames(12))
    code, out, err = cli("interpolate", movie, "-o", tmp_path / "out.mp4", "--engine", "model", "--checkpoint",
                         "rife4")
    assert code == 0, err
    assert "24 frames at 48 fps" in out and "model engine" in out
    assert len(decode(tmp_path / "out.mp4", 128, 96)) == 24


def test_default_output_goes_to_the_workspace(cli, pair):
    code, out, _ = cli("interpolate", *pair, "--frames", "2", "--pingpong")
    assert code == 0
    assert "framegen-work/interpolated.gif" in out
    assert len(decode(Path("framegen-work/interpolated.gif"), 128, 96)) == 6  # a b c d c b


@pytest.mark.parametrize("suffix", [".gif", ".png", ".mp4"])
def test_odd_sizes_come_out_exactly(cli, tmp_path, suffix):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        write_png(tmp_path / f"{name}.png", rng.integers(0, 256, (131, 257, 3), dtype=np.uint8))
    out = tmp_path / f"out{suffix}"
    code, _, err = cli("interpolate", tmp_path / "a.png", tmp_path / "b.png", "-o", out, "--frames", "3",
                       "--frames-dir", tmp_path / "frames")
    assert code == 0, err
    assert len(decode(out, 257, 131)) == 5
    assert read_image(tmp_path / "frames" / "002.png").shape == (131, 257, 3)


def test_rgba_pair_gives_a_transparent_animation(cli, tmp_path):
    frames = textured_square_frames(8)
    for name, index in (("a", 0), ("b", 7)):
        image = np.zeros((96, 128, 4), np.uint8)
        image[..., :3] = frames[index]
        image[30:66, 5:70, 3] = 255  # an opaque region around the square; the rest is transparent
        write_png(tmp_path / f"{name}.png", image)
    for suffix in (".png", ".gif", ".webp"):
        out = tmp_path / f"out{suffix}"
        code, stdout, err = cli("interpolate", tmp_path / "a.png", tmp_path / "b.png", "-o", out)
        assert code == 0, err
        assert "RGBA" in stdout
        decoded = decode(out, 128, 96, "rgba")
        assert len(decoded) == 8
        assert decoded[:, :20, :, 3].max() == 0  # transparent stays transparent in every frame
        assert decoded[:, 40:56, 20:50, 3].min() == 255  # the opaque middle stays opaque


@pytest.mark.parametrize("make_b", ["other_size", "missing", "text"])
def test_bad_inputs_are_one_line_and_exit_3(cli, pair, tmp_path, make_b):
    b = tmp_path / "bad.png"
    if make_b == "other_size":
        write_png(b, np.zeros((50, 60, 3), np.uint8))
    elif make_b == "text":
        b.write_text("not an image")
    code, _, err = cli("interpolate", pair[0], b, "-o", tmp_path / "out.gif")
    assert code == 3
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out.gif").exists()


def test_usage_errors_exit_2(cli, pair, tmp_path):
    assert cli("interpolate", *pair, "-o", tmp_path / "out.avi")[0] == 2
    assert cli("interpolate", *pair, "--frames", "3", "--times", "0.5")[0] == 2
    assert cli("interpolate", *pair, "--times", "0.5,1.5")[0] == 2
    assert cli("interpolate", *pair, "--engine", "magic")[0] == 2
    assert cli("interpolate", pair[0], pair[1], pair[0])[0] == 2


def test_plan_segments_holds_cuts_and_spans_held_drawings():
    drawings = np.array([True, True, True, True, False, True, False, True])  # 4 and 6 repeat 3 and 5
    segments = plan_segments(drawings, cuts=[3], source_times=[k / 2 for k in range(16)])
    plan = [(s.first, s.last, s.times) for s in segments]
    assert plan == [
        (0, 1, [0.0, 0.5]), (1, 2, [0.0, 0.5]),
        (2, None, [0.0, 0.0]),  # the last frame before the cut is repeated, never morphed into frame 3
        (3, 5, [0.0, 0.25, 0.5, 0.75]),  # drawing 3 is held on twos: interpolated over its two frames
        (5, 7, [0.0, 0.25, 0.5, 0.75]),
        (7, None, [0.0, 0.0]),
    ]


def test_video_mode_doubles_frames_repeats_at_a_cut_and_keeps_audio(cli, tmp_path):
    n, cut = 40, 20
    source = moving_square_frames(n, cuts=(cut,), held=tuple(range(cut + 1, n, 2)))  # 2nd shot on twos
    silent = write_video(tmp_path / "silent.mp4", source)
    movie = tmp_path / "movie.mp4"
    subprocess.run([ffmpeg_binary(), "-v", "error", "-i", str(silent), "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=2", "-c:v", "copy", "-c:a", "aac", "-shortest", str(movie)],
                   check=True)
    code, out, err = cli("interpolate", movie, "-o", tmp_path / "out.mp4", "--factor", "2")
    assert code == 0, err
    assert "80 frames at 48 fps" in out
    frames = decode(tmp_path / "out.mp4", 128, 96).astype(int)
    assert len(frames) == 2 * n
    assert has_audio(tmp_path / "out.mp4")
    decoded = decode(movie, 128, 96).astype(int)
    # just before the cut: the last frame of the shot, repeated (a morph would be half the next shot)
    assert np.abs(frames[2 * cut - 1] - decoded[cut - 1]).mean() < 2
    assert np.abs(frames[2 * cut] - decoded[cut]).mean() < 2
    # the shot on twos moves in every output frame: interpolated between drawings, not between duplicates
    steps = [np.abs(frames[k] - frames[k - 1]).mean() for k in range(2 * cut + 1, 2 * (n - 2))]
    assert min(steps) > 0.3, steps


def test_video_mode_fps_and_bad_movie(cli, tmp_path):
    movie = write_video(tmp_path / "movie.mp4", moving_square_frames(12))
    code, out, err = cli("interpolate", movie, "-o", tmp_path / "out.mp4", "--fps", "60", "--engine", "blend")
    assert code == 0, err
    assert len(decode(tmp_path / "out.mp4", 128, 96)) == 30  # 12 frames at 24 fps = 0.5 s
    (tmp_path / "fake.mp4").write_text("not a movie")
    code, _, err = cli("interpolate", tmp_path / "fake.mp4", "-o", tmp_path / "out2.mp4")
    assert code == 3 and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("options, cuts, held", [
    ([], 1, 10),
    (["--cut-threshold", "1000"], 0, 0),  # no cut: one shot, mostly on ones, so nothing is held either
    (["--min-shot-frames", "30"], 0, 0),  # the first shot would be 20 frames
    (["--hold-threshold", "1000"], 1, 0),  # no frame counts as a new drawing: no timing, nothing held
    (["--config", "detect.toml"], 0, 0),  # [filter] cut_threshold = 1000
    (["--config", "detect.toml", "--cut-threshold", "20"], 1, 10),  # the flag wins over the file
])
def test_video_mode_takes_the_detector_options_of_filter(cli, tmp_path, options, cuts, held):
    n, cut = 40, 20
    movie = write_video(tmp_path / "movie.mp4", moving_square_frames(n, cuts=(cut,), held=tuple(range(cut + 1, n, 2))))
    Path("detect.toml").write_text("[filter]\ncut_threshold = 1000\n")
    code, out, err = cli("interpolate", movie, "-o", "out.mp4", "--engine", "blend", *options)
    assert code == 0, err
    cut_text = {0: "0 scene cuts", 1: "1 scene cut"}[cuts]
    assert f"{cut_text} held, not morphed; {held} held frames" in out, out
    frames, source = decode(Path("out.mp4"), 128, 96).astype(int), decode(movie, 128, 96).astype(int)
    across = np.abs(frames[2 * cut - 1] - source[cut - 1]).mean()  # half-way across the cut
    assert across < 2 if cuts else across > 10, across  # repeated, or cross-faded into the next shot


def test_video_mode_refuses_the_vgg16_detector_and_bad_detector_options(cli, tmp_path):
    movie = write_video(tmp_path / "movie.mp4", moving_square_frames(12))
    code, _, err = cli("interpolate", movie, "-o", "out.mp4", "--detector", "vgg16")
    assert code == 2 and "framegen filter" in err and len(err.strip().splitlines()) == 1, err
    code, _, err = cli("interpolate", movie, "-o", "out.mp4", "--cut-ratio", "0.5")
    assert code == 2 and "cut-ratio" in err, err
    assert not Path("out.mp4").exists()


@pytest.mark.slow
def test_sample_movie_doubles_without_morphing_across_cuts(cli, sample_movie, tmp_path):
    truth = json.loads((SHARED_DATA / "sample_movie.json").read_text())
    code, out, err = cli("interpolate", sample_movie, "-o", tmp_path / "double.mp4", "--factor", "2")
    assert code == 0, err
    frames = decode(tmp_path / "double.mp4", truth["width"], truth["height"]).astype(np.int16)
    source = decode(sample_movie, truth["width"], truth["height"]).astype(np.int16)
    assert len(frames) == 2 * truth["frames"]
    for cut in truth["cuts"]:  # the frame half-way across a cut repeats the shot's last frame (+ codec noise)
        to_before = np.abs(frames[2 * cut - 1] - source[cut - 1]).mean()
        to_after = np.abs(frames[2 * cut - 1] - source[cut]).mean()
        assert to_before < 5 and to_before < to_after / 10, (cut, to_before, to_after)


# ------------------------------------------------------------------ issue 15/16: inputs, outputs, limits


def test_one_image_alone_is_a_usage_error_even_named_like_a_movie(cli, pair, tmp_path):
    disguised = tmp_path / "clip.mp4"
    disguised.write_bytes(pair[0].read_bytes())  # a PNG named .mp4: its content says image
    for single in (pair[0], disguised):
        code, out, err = cli("interpolate", single, "-o", tmp_path / "out.mp4")
        assert code == 2 and "one image" in err and "two images" in err, err
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.mp4").exists()


def test_a_movie_named_like_an_image_is_a_movie(cli, tmp_path):
    movie = write_video(tmp_path / "movie.mp4", moving_square_frames(12))
    disguised = tmp_path / "still.png"
    disguised.write_bytes(movie.read_bytes())
    code, out, err = cli("interpolate", disguised, "-o", tmp_path / "out.mp4", "--engine", "blend")
    assert code == 0, err
    assert "24 frames at 48 fps" in out


def test_an_animated_image_in_a_pair_is_refused(cli, pair, tmp_path):
    animated = tmp_path / "anim.gif"
    frames = [Image.fromarray(frame) for frame in moving_square_frames(3)]
    frames[0].save(animated, save_all=True, append_images=frames[1:], duration=100)
    code, _, err = cli("interpolate", animated, pair[1], "-o", tmp_path / "out.gif")
    assert code == 3 and "animated image" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out.gif").exists()
    code, out, err = cli("interpolate", animated, "--engine", "blend", "-o", tmp_path / "alone.mp4")
    assert code == 0 and "6 frames at 20 fps from 3 at 10 fps" in out, err  # alone, it is played as a movie


def test_an_output_that_is_an_input_is_refused(cli, pair, tmp_path):
    before = pair[0].read_bytes()
    code, _, err = cli("interpolate", *pair, "-o", pair[0].with_suffix(".png"))
    assert code == 2 and "is one of the inputs" in err, err
    os.link(pair[1], tmp_path / "b-link.png")  # the same file under another name
    code, _, err = cli("interpolate", *pair, "-o", tmp_path / "b-link.png")
    assert code == 2 and "is one of the inputs" in err, err
    assert pair[0].read_bytes() == before
    movie = write_video(tmp_path / "movie.mp4", moving_square_frames(12))
    movie_bytes = movie.read_bytes()
    code, _, err = cli("interpolate", movie, "-o", movie, "--engine", "blend")
    assert code == 2 and "is one of the inputs" in err, err
    assert movie.read_bytes() == movie_bytes


def test_times_are_capped_like_frames(cli, pair, tmp_path):
    times = ",".join(f"{(k + 1) / 5002:.6f}" for k in range(5000))
    code, _, err = cli("interpolate", *pair, "--times", times, "-o", tmp_path / "out.gif")
    assert code == 2 and "at most 1000" in err, err
    assert not (tmp_path / "out.gif").exists()


def test_loop_and_size_limits_are_checked_before_the_work(cli, pair, tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr("framegen.core.engines.blend.BlendEngine.interpolate_float",
                        lambda self, *args: made.append(1) or [])
    for suffix, plays in ((".gif", 70000), (".webp", 65536), (".png", 65536)):
        code, _, err = cli("interpolate", *pair, "--engine", "blend", "--loop", plays, "-o", tmp_path / f"o{suffix}")
        assert code == 2 and "--loop" in err and "plays at most" in err, err
    wide = np.zeros((16, 16400, 3), np.uint8)  # 0.26 megapixels, wider than WebP and libx264 allow
    write_png(tmp_path / "wa.png", wide)
    write_png(tmp_path / "wb.png", wide)
    for suffix in (".webp", ".mp4"):
        code, _, err = cli("interpolate", tmp_path / "wa.png", tmp_path / "wb.png", "--engine", "blend",
                           "-o", tmp_path / f"wide{suffix}")
        assert code == 2 and "px a side" in err, err
    assert made == [] and not list(tmp_path.glob("o.*")) and not list(tmp_path.glob("wide.*"))


def test_what_cannot_fit_in_memory_is_refused_before_the_work(cli, tmp_path, monkeypatch):
    big = np.zeros((1500, 2000, 3), np.uint8)
    write_png(tmp_path / "a.png", big)
    write_png(tmp_path / "b.png", big)
    monkeypatch.setenv("FRAMEGEN_MEMORY_MB", "64")
    code, _, err = cli("interpolate", tmp_path / "a.png", tmp_path / "b.png", "--engine", "flow",
                       "-o", tmp_path / "out.gif")
    assert code == 3 and "2000x1500 frames need about" in err and "GB is available" in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out.gif").exists()
    monkeypatch.setenv("FRAMEGEN_MEMORY_MB", "4096")
    code, _, err = cli("interpolate", tmp_path / "a.png", tmp_path / "b.png", "--engine", "blend", "--frames", "1",
                       "-o", tmp_path / "out.gif")
    assert code == 0, err


def test_pingpong_streams_back_the_same_frames(cli, pair, tmp_path):
    code, _, err = cli("interpolate", *pair, "--frames", "3", "--pingpong", "-o", tmp_path / "out.png",
                       "--frames-dir", tmp_path / "frames")
    assert code == 0, err
    frames = decode(tmp_path / "out.png", 128, 96)  # APNG: lossless
    written = [read_image(tmp_path / "frames" / f"{i:03d}.png") for i in range(5)]
    assert len(frames) == 8  # 0 1 2 3 4 3 2 1
    for index, source in enumerate([0, 1, 2, 3, 4, 3, 2, 1]):
        assert np.array_equal(frames[index], written[source]), index


def test_video_mode_takes_start_and_end_like_extract(cli, tmp_path):
    silent = write_video(tmp_path / "silent.mp4", moving_square_frames(48))  # 2 s at 24 fps
    movie = tmp_path / "movie.mp4"
    subprocess.run([ffmpeg_binary(), "-v", "error", "-i", str(silent), "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=2", "-c:v", "copy", "-c:a", "aac", "-shortest", str(movie)],
                   check=True)
    code, out, err = cli("interpolate", movie, "--start", "0.5", "--end", "1.5", "--engine", "blend",
                         "-o", tmp_path / "part.mp4")
    assert code == 0, err
    assert "48 frames at 48 fps from 24 at 24 fps" in out, out
    frames = decode(tmp_path / "part.mp4", 128, 96).astype(int)
    source = decode(movie, 128, 96).astype(int)
    assert len(frames) == 48 and np.abs(frames[0] - source[12]).mean() < 2  # starts at 0.5 s = frame 12
    probe = subprocess.run([ffmpeg_binary(), "-hide_banner", "-i", str(tmp_path / "part.mp4")], capture_output=True)
    assert "Audio:" in probe.stderr.decode() and "Duration: 00:00:01.0" in probe.stderr.decode()
    code, _, err = cli("interpolate", movie, "--start", "1.5", "--end", "0.5", "-o", tmp_path / "x.mp4")
    assert code == 2 and "end" in err


def test_video_mode_fps_is_capped_at_16x(cli, tmp_path):
    movie = write_video(tmp_path / "movie.mp4", moving_square_frames(12))
    code, _, err = cli("interpolate", movie, "--fps", "1000", "--engine", "blend", "-o", tmp_path / "out.mp4")
    assert code == 2 and "at most 16x" in err, err
    assert not (tmp_path / "out.mp4").exists()


def test_sigterm_during_interpolate_leaves_no_temporary_file(pair, tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "framegen", "-q", "interpolate", *map(str, pair), "--frames",
                                "1000", "--engine", "blend", "-o", str(tmp_path / "out.gif")],
                               env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.gif.*.tmp")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "finished before it could be stopped"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert list(tmp_path.glob(".out.gif.*")) == [] and not (tmp_path / "out.gif").exists()


def test_a_later_run_removes_the_stale_temporaries_of_a_killed_write(cli, pair, tmp_path):
    stale = tmp_path / ".out.gif.0123456789ab.tmp"  # what a SIGKILLed write leaves
    stale.write_bytes(b"half a gif")
    live = tmp_path / ".out.gif.abcdef012345.tmp"  # a write still in progress holds its lock
    other = tmp_path / ".other.gif.0123456789ab.tmp"
    other.write_bytes(b"")
    with open(live, "wb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        code, _, err = cli("interpolate", *pair, "--frames", "1", "--engine", "blend", "-o", tmp_path / "out.gif")
        assert code == 0, err
        assert not stale.exists() and live.exists() and other.exists()


def test_a_checkpoint_folder_without_a_model_names_both_places_it_looked(cli, pair, tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)  # a training run stopped before it exported
    code, _, err = cli("interpolate", *pair, "--engine", "model", "--checkpoint", run, "-o", tmp_path / "o.gif")
    assert code == 3 and len(err.strip().splitlines()) == 1, err
    assert f"{run / 'model.json'}" in err and f"{run / 'export' / 'model.json'}" in err
    assert "has not exported yet" in err


def test_a_huge_image_is_refused_from_its_header_in_one_line(cli, pair, tmp_path):
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    huge = tmp_path / "huge.png"  # declares 10000x10000 (100 megapixels; Pillow warns above 89): never decoded
    huge.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 10000, 10000, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b""))
    code, _, err = cli("interpolate", huge, pair[1], "-o", tmp_path / "out.gif")
    assert code == 3 and "larger than framegen handles" in err, err
    assert len(err.strip().splitlines()) == 1 and "Warning" not in err


def stream_seconds(path: Path, kind: str) -> float:
    """The duration of the `kind` stream ("v" or "a") of a movie, from its last packet's end."""
    done = subprocess.run([ffmpeg_binary(), "-hide_banner", "-i", str(path), "-map", f"0:{kind}", "-c", "copy",
                           "-f", "null", "-"], capture_output=True, text=True, check=True)
    times = re.findall(r"time=(\d+):(\d+):([\d.]+)", done.stderr)
    h, m, s = times[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)


def test_video_mode_cuts_sound_that_outlasts_the_pictures(cli, tmp_path):
    """A movie whose sound lasts 3 s and pictures 1 s (as a variable-rate movie played at one rate can be):
    the output's audio stops with its video."""
    silent = write_video(tmp_path / "silent.mp4", moving_square_frames(24))  # 1 s at 24 fps
    movie = tmp_path / "movie.mp4"
    subprocess.run([ffmpeg_binary(), "-v", "error", "-i", str(silent), "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=3", "-c:v", "copy", "-c:a", "aac", str(movie)], check=True)
    assert stream_seconds(movie, "a") > 2.5
    code, _, err = cli("interpolate", movie, "-o", tmp_path / "out.mp4", "--engine", "blend")
    assert code == 0, err
    video, sound = stream_seconds(tmp_path / "out.mp4", "v"), stream_seconds(tmp_path / "out.mp4", "a")
    assert sound <= video + 0.1, (video, sound)
