"""core/media/movie.py: the one movie reader of extract and video mode (its CLI behaviour: test_extract.py)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from helpers.media import moving_square_frames, with_rotation, write_video

from framegen.core.errors import InputError
from framegen.core.media.movie import MovieReader, probe_movie


@pytest.fixture
def movie(tmp_path):
    frames = moving_square_frames(30)
    return write_video(tmp_path / "movie.mp4", frames), frames


def test_reads_every_frame_with_its_time(movie):
    path, source = movie
    with MovieReader(path, probe_movie(path)) as reader:
        frames = np.stack(list(reader))  # uint8 (N, H, W, 3) RGB
    assert frames.shape == source.shape and frames.dtype == np.uint8
    frames, source = frames.astype(int), source.astype(int)
    for k in range(29):  # each frame is its own source frame, in order (+ H.264 noise on the texture)
        assert np.abs(frames[k] - source[k]).mean() < min(6, np.abs(frames[k] - source[k + 1]).mean())
    assert reader.frames_read == 30 and reader.frame_rate() == 24
    assert reader.timestamps() == [Fraction(k, 24) for k in range(30)]
    assert reader.report_warnings() == []


def test_scaled_trimmed_and_thinned(movie):
    path, _ = movie
    with MovieReader(path, probe_movie(path), max_side=64, start=0.5, end=1.0, every=2) as reader:
        frames = list(reader)
    assert [frame.shape for frame in frames] == [(48, 64, 3)] * 6  # frames 12, 14, ..., 22
    assert reader.timestamps() == [Fraction(k, 24) for k in range(12, 24, 2)]


def test_stopping_early_kills_ffmpeg(movie):
    """A caller that needs no more frames, an error or a Ctrl-C: leaving the block ends ffmpeg, which
    was blocked writing into the full pipe (30 frames of 36 KiB do not fit a 64 KiB pipe)."""
    path, _ = movie
    with pytest.raises(KeyboardInterrupt):
        with MovieReader(path, probe_movie(path)) as reader:
            next(iter(reader))
            raise KeyboardInterrupt
    assert reader.process.returncode == -9 and reader.frames_read == 1
    assert reader.process.stdout.closed and not reader.log.is_alive()


def test_a_movie_with_no_decodable_frame(tmp_path, movie):
    path, _ = movie
    info = probe_movie(path)
    damaged = tmp_path / "damaged.mp4"
    data = bytearray(path.read_bytes())
    mdat = data.index(b"mdat") + 4
    data[mdat:] = bytes(len(data) - mdat)  # the index stays, every frame's data is zeros
    damaged.write_bytes(bytes(data))
    with MovieReader(damaged, info) as reader:
        assert list(reader) == []
    with pytest.raises(InputError, match="no frame could be decoded"):
        reader.check_decoded()


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotated_movie_is_read_upright_at_its_displayed_size(movie, degrees):
    """A phone video (rotation metadata) gives the stored frames turned upright, at the displayed size,
    scaled too; before, the frames were read at the stored size while ffmpeg turned them: sheared stripes."""
    path, _ = movie
    with MovieReader(path, probe_movie(path)) as reader:
        stored = np.stack(list(reader))  # uint8 (30, 96, 128, 3)
    rotated = with_rotation(path, degrees)
    info = probe_movie(rotated)
    assert info.rotation == degrees and (info.width, info.height) == (128, 96)
    with MovieReader(rotated, info) as reader:
        upright = np.stack(list(reader))
    assert upright.shape[0] == 30 and np.array_equal(upright, np.rot90(stored, degrees // 90, axes=(1, 2)))
    with MovieReader(rotated, info, max_side=64) as reader:
        small = next(iter(reader))
    assert small.shape == ((64, 48, 3) if degrees != 180 else (48, 64, 3))


def test_video_mode_reads_a_rotated_movie_upright(cli, movie):
    """interpolate's video mode reads through the same reader: its output stands upright at 96x128."""
    path, source = movie
    code, _, err = cli("-q", "interpolate", with_rotation(path, 270), "-o", "out.mp4", "--engine", "blend")
    assert code == 0, err
    info = probe_movie(Path("out.mp4"))
    assert (info.rotation, info.display_size()) == (0, (96, 128))
    with MovieReader(Path("out.mp4"), info) as reader:
        frames = list(reader)
    assert len(frames) == 60
    for k in (0, 20, 40):  # output frame 2j is source frame j
        assert np.abs(frames[k].astype(int) - np.rot90(source[k // 2], 3)).mean() < 6, k
