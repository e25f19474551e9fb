"""`framegen extract --max-side`: a size whose short side falls below the documented minimum is refused."""

from __future__ import annotations

from helpers.media import moving_square_frames, write_video


def test_max_side_that_makes_the_short_side_too_small_is_refused(cli, tmp_path):
    movie = write_video(tmp_path / "wide.mp4", moving_square_frames(4, size=(64, 256)))  # 4:1
    code, _, err = cli("extract", movie, "-o", tmp_path / "frames", "--max-side", "32")  # would be 32x8
    assert code == 2 and "32x8 frames" in err and "at least 16 px a side" in err, err
    assert not (tmp_path / "frames").exists()
    code, _, err = cli("extract", movie, "-o", tmp_path / "frames", "--max-side", "64")  # 64x16
    assert code == 0, err
