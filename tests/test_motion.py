"""core/media/motion.py, the classical motion primitives: warps, DIS flow, the motion at time t (the layering
is lint-imports's, tests/test_layers.py)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from framegen.core.media.convert import image_to_float
from framegen.core.media.motion import DISFlow, motion_at_times, pixel_grid, warp, working_gray


def smooth_texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """uint8 (h, w, 3): smooth random colour blobs (textured enough for DIS everywhere)."""
    rng = np.random.default_rng(seed)
    blobs = rng.integers(0, 256, (h // 8, w // 8, 3)).astype(np.float32)
    return np.clip(cv2.resize(blobs, (w, h), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


def test_warp_moves_content_by_the_motion():
    image = image_to_float(smooth_texture(40, 60))
    motion = np.zeros((40, 60, 2), np.float32)
    motion[..., 0], motion[..., 1] = 3, -2  # 3 px right, 2 px up
    warped = warp(image, motion, 1.0)  # out(x) = image(x + motion)
    np.testing.assert_array_equal(warped[2:, :-3], image[:-2, 3:])
    assert np.array_equal(warp(image, motion, 0.0), image)
    assert not pixel_grid(40, 60).flags.writeable


def test_dis_finds_a_translation_and_the_motion_at_t_follows_it():
    big = smooth_texture(100, 140, seed=1)
    frame0, frame1 = big[10:90, 10:130], big[10:90, 14:134]  # frame1(x) = frame0(x + 4): content moves 4 px left
    gray0, gray1 = (working_gray(image_to_float(f), (120, 80)) for f in (frame0, frame1))
    flow01 = DISFlow().flow(gray0, gray1)  # gray1(x + flow) ~ gray0(x)
    assert np.median(flow01[..., 0]) == pytest.approx(-4, abs=0.25)
    assert np.median(flow01[..., 1]) == pytest.approx(0, abs=0.25)
    motions = list(motion_at_times(DISFlow(), image_to_float(frame0), image_to_float(frame1), [0.25, 0.5]))
    for motion in motions:
        assert motion.shape == (80, 120, 2)
        assert np.median(motion[20:60, 20:100, 0]) == pytest.approx(-4, abs=0.25)
    still = next(motion_at_times(DISFlow(), image_to_float(frame0), image_to_float(frame0), [0.5]))
    assert np.abs(still).max() < 0.05  # no motion: the zero candidate wins everywhere


def test_motion_is_estimated_at_most_at_the_working_size_and_scaled_back():
    big = smooth_texture(400, 1400, seed=2)
    frame0, frame1 = big[:, :1300], big[:, 10:1310]  # 10 px at full size; flows run at 640 px wide
    motion = next(motion_at_times(DISFlow(), image_to_float(frame0), image_to_float(frame1), [0.5]))
    assert motion.shape == (400, 1300, 2)
    assert np.median(motion[100:300, 200:1100, 0]) == pytest.approx(-10, abs=0.6)


