"""core/media/convert.py: the one home of uint8 <-> float conversions; it never loads torch at import."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch

from framegen.core.media.convert import (
    batch_to_image,
    float_to_uint8,
    image_from_float,
    image_to_batch,
    image_to_float,
    images_to_tensor,
    uint8_to_float,
    windows_to_float,
)


def every_value_image(channels: int) -> np.ndarray:
    """uint8 (256, 256, channels): every value in every channel; the alpha (last) channel varies by column."""
    image = np.empty((256, 256, channels), np.uint8)
    image[..., :] = np.arange(256, dtype=np.uint8)[:, None, None]
    image[..., -1] = np.arange(256, dtype=np.uint8)[None, :]
    return image


def test_the_torch_free_stages_import_it_without_torch():
    code = ("import sys, framegen.core.media.convert, framegen.core.media.motion, framegen.core.stages.synth, "
            "framegen.core.formats.dataset, framegen.core.stages.build_dataset; "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_uint8_images_round_trip_exactly():
    rgb = every_value_image(3)
    assert uint8_to_float(rgb).dtype == np.float32 and uint8_to_float(rgb).max() == 1.0
    assert np.array_equal(float_to_uint8(uint8_to_float(rgb)), rgb)
    assert np.array_equal(image_from_float(image_to_float(rgb)), rgb)


def test_rgba_is_premultiplied_and_comes_back():
    rgba = every_value_image(4)
    x = image_to_float(rgba)
    np.testing.assert_allclose(x[..., :3], rgba[..., :3] / 255 * rgba[..., 3:] / 255, atol=1e-6)
    back = image_from_float(x)
    assert np.array_equal(back[..., 3], rgba[..., 3])
    assert (back[..., :3][rgba[..., 3] == 0] == 0).all()  # fully transparent: no colour
    opaque = rgba[..., 3] == 255
    assert np.array_equal(back[opaque], rgba[opaque])
    assert np.abs(back[..., :3].astype(int) - rgba[..., :3])[rgba[..., 3] >= 16].max() <= 8


def test_the_two_roundings_differ_only_at_halves():
    halves = np.array([0.5, 1.5, 2.5, 254.5, -3, 300], np.float32) / 255  # x * 255 = 0.5, 1.5, 2.5, ...
    assert float_to_uint8(halves).tolist() == [0, 2, 2, 254, 0, 255]  # half to even, clipped
    assert image_from_float(halves[None, :, None])[0, :, 0].tolist() == [1, 2, 3, 255, 0, 255]  # half up


def test_tensor_conversions():
    frames = np.random.default_rng(0).integers(0, 256, (3, 5, 7, 3), dtype=np.uint8)  # (N, H, W, 3)
    tensor = images_to_tensor(frames)
    assert tensor.shape == (3, 3, 5, 7) and tensor.dtype == torch.float32
    assert torch.equal(tensor, windows_to_float(torch.from_numpy(frames).permute(0, 3, 1, 2)))
    assert torch.equal((tensor * 255).round(), torch.from_numpy(frames).permute(0, 3, 1, 2).float())


def test_image_batches_carry_alpha_as_a_grey_image():
    for channels in (3, 4):
        image = image_to_float(np.random.default_rng(channels).integers(0, 256, (6, 9, channels), dtype=np.uint8))
        batch = image_to_batch(image)
        assert batch.shape == ((1, 3, 6, 9) if channels == 3 else (2, 3, 6, 9))
        np.testing.assert_allclose(batch_to_image(batch, channels), image, rtol=0, atol=1e-6)  # alpha: a mean of 3
