"""The motion-aware learned model (`--arch motion`)."""

import numpy as np
import torch

from framegen.core.engines.flow import FlowEngine
from framegen.core.losses import MotionLoss, MotionLossConfig
from framegen.core.models.motion import (
    MotionConfig,
    MotionInterpolator,
    backward_warp,
    teacher_flows,
    training_inputs,
)
from framegen.core.models.registry import build_generator, interpolate_padded
from tests.conftest import moving_square_frames


def pair(size=(64, 96)):
    frames = moving_square_frames(9, size=size)
    frame0 = torch.from_numpy(frames[0]).permute(2, 0, 1)[None].float() / 255  # (1, 3, H, W) in [0, 1]
    frame1 = torch.from_numpy(frames[8]).permute(2, 0, 1)[None].float() / 255
    return frames, frame0, frame1


def test_untrained_model_reproduces_the_flow_engine():
    """Zero-initialised outputs: before training the model is exactly the `flow` engine."""
    frames, frame0, frame1 = pair()
    times = [0.25, 0.5, 0.8]
    model = MotionInterpolator(MotionConfig(width=16, refiner_width=8)).eval()
    with torch.no_grad():
        out = model(frame0, frame1, torch.tensor([times]))  # (1, 3, 3, H, W)
    reference = FlowEngine().interpolate_float(frames[0] / np.float32(255), frames[8] / np.float32(255), times)
    for k in range(len(times)):
        assert np.abs(out[0, k].permute(1, 2, 0).numpy() - np.clip(reference[k], 0, 1)).max() < 1e-3


def test_any_size_any_time_and_gradients_reach_every_layer():
    _, frame0, frame1 = pair()
    model = build_generator("motion", {"width": 16, "refiner_width": 8})
    times = torch.tensor([[0.1, 0.5, 0.9, 0.33]])
    odd0, odd1 = frame0[..., :37, :61], frame1[..., :37, :61]  # not a multiple of 8: padded, cropped back
    out = interpolate_padded(model, odd0, odd1, times)
    assert out.shape == (1, 4, 3, 37, 61) and 0 <= out.min() and out.max() <= 1
    # zero-initialised heads still pass gradients to themselves, so training can move every layer
    window = torch.stack([frame0[0]] * 8)[None]
    outputs = model(frame0, frame1, torch.linspace(0, 1, 8)[None], intermediates=True)
    loss = sum(MotionLoss(MotionLossConfig())(outputs, torch.rand_like(window)).values())
    loss.backward()
    heads = [block.head.weight.grad for block in model.flow_blocks] + [model.refiner.head.weight.grad]
    assert all(g is not None and g.abs().sum() > 0 for g in heads)


def test_backward_warp_moves_content_by_the_flow():
    image = torch.zeros(1, 1, 8, 8)
    image[0, 0, 4, 5] = 1.0
    flow = torch.zeros(1, 2, 8, 8)
    flow[:, 0] = 2.0  # sample 2 px to the right
    warped = backward_warp(image, flow)
    assert warped[0, 0, 4, 3] == 1.0 and torch.isclose(warped.sum(), torch.tensor(1.0))


def moving_disc_window(n: int, h: int = 96, w: int = 128, step: int = 3) -> torch.Tensor:
    """(1, n, 3, h, w) in [0, 1]: a shaded disc moving `step` px right per frame over a smooth gradient
    (smooth content, so DIS's answer is exact; DIS is poor on per-pixel noise textures)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for i in range(n):
        image = np.stack([xx / w, yy / h, np.full_like(xx, 0.5)], -1) * 0.6 + 0.2
        distance = np.hypot(xx - (30 + step * i), yy - h / 2)
        disc = np.stack([np.cos(distance / 3), np.sin((xx - 30 - step * i) / 4), np.zeros_like(xx)], -1) * 0.4 + 0.5
        image[distance < 14] = disc[distance < 14]
        frames.append(image)
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)[None]


def test_teacher_flows_point_from_each_in_between_to_the_end_frames():
    """The distillation target: DIS from the real in-between to frame 0 and to the last frame."""
    window = moving_disc_window(5)
    flows = teacher_flows(window)  # (1, 3, 4, H, W)
    assert flows.shape == (1, 3, 4, 96, 128)
    for k in (1, 2, 3):
        x, y = 30 + 3 * k, 48  # the disc's centre in frame k
        assert abs(float(flows[0, k - 1, 0, y, x]) + 3 * k) < 0.2  # F_t->0: back to frame 0
        assert abs(float(flows[0, k - 1, 2, y, x]) - 3 * (4 - k)) < 0.2  # F_t->1: on to frame 4

    loss = MotionLoss(MotionLossConfig())
    assert float(loss.flow_distance(flows, window)) < 1e-6
    assert float(loss.flow_distance(torch.zeros_like(flows), window)) > 0.01


def test_inputs_made_in_the_loader_equal_those_made_in_the_step():
    """train's loader computes the starting motion and the teacher flows per window (training_inputs); the
    model and the loss then give exactly what they give computing both themselves."""
    window = moving_disc_window(6)  # (1, 6, 3, H, W) in [0, 1]
    times = torch.linspace(0, 1, 6)
    generator_inputs, loss_inputs = training_inputs((window[0] * 255).round().to(torch.uint8), times)
    assert generator_inputs["motion"].shape == (6, 2, 96, 128) and loss_inputs["teacher"].shape == (4, 4, 96, 128)
    model = MotionInterpolator(MotionConfig(width=8, refiner_width=8))
    torch.nn.init.normal_(model.flow_blocks[0].head.weight, std=0.01)  # not the zero start: corrections matter
    loss = MotionLoss(MotionLossConfig())
    frames = window.mul(255).round().div(255)  # the uint8 window, as the loader sees it
    inside = model(frames[:, 0], frames[:, -1], times[None], intermediates=True)
    given = model(frames[:, 0], frames[:, -1], times[None], intermediates=True,
                  motion=generator_inputs["motion"][None])
    assert torch.allclose(inside["frames"], given["frames"], atol=1e-6)
    terms_inside = loss(inside, frames)
    terms_given = loss(given, frames, teacher=loss_inputs["teacher"][None])
    assert all(torch.allclose(terms_inside[k], terms_given[k], atol=1e-6) for k in terms_inside)
