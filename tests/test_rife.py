"""The RIFE networks (core/models/rife.py): published parameter layout, any size, shared work across
times, rife3hd's dyadic bisection, and the RIFE loss. Random weights only: no download."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F

from framegen.core.models.registry import build_generator
from framegen.core.models.rife import (
    Rife3HD,
    Rife4,
    bisection_levels,
    nearest_dyadic_time,
    published_state_dict,
)
from framegen.core.training.losses import RifeLoss, RifeLossConfig


def smooth_pair(h: int, w: int, batch: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two (batch, 3, h, w) images in [0, 1] with smooth content (noise upsampled), a small shift apart."""
    g = torch.Generator().manual_seed(seed)
    base = F.interpolate(torch.rand(batch, 3, h // 4 + 2, w // 4 + 2, generator=g), size=(h + 8, w + 8),
                         mode="bilinear", align_corners=False)
    return base[..., 4:4 + h, 4:4 + w].contiguous(), base[..., 2:2 + h, 5:5 + w].contiguous()


def published_layout(network: torch.nn.Module, prefix: str, training_only: list[str]) -> dict[str, torch.Tensor]:
    """The network's tensors named as in a published flownet.pkl: a prefix and training-only extras."""
    state = {f"{prefix}{name}": tensor for name, tensor in network.state_dict().items()}
    state.update({f"{prefix}{name}": torch.zeros(3) for name in training_only})
    return state


def test_parameter_names_and_shapes_are_the_published_ones():
    rife4 = Rife4().state_dict()
    assert len(rife4) == 158
    assert rife4["block0.conv0.0.0.weight"].shape == (96, 15, 3, 3)
    assert rife4["block1.conv0.0.0.weight"].shape == (64, 28, 3, 3)
    assert rife4["block4.convblock.7.beta"].shape == (1, 32, 1, 1)
    assert rife4["block4.lastconv.0.weight"].shape == (32, 52, 4, 4)
    assert rife4["encode.cnn3.weight"].shape == (16, 4, 4, 4)
    hd = Rife3HD().state_dict()
    assert len(hd) == 120
    assert hd["block0.conv0.0.0.weight"].shape == (45, 11, 3, 3)
    assert hd["block0.conv0.0.1.weight"].shape == (45,)  # PReLU
    assert hd["block2.convblock3.1.0.weight"].shape == (90, 90, 3, 3)
    assert hd["block2.conv1.2.weight"].shape == (45, 4, 4, 4)
    assert hd["block2.conv2.2.weight"].shape == (45, 1, 4, 4)


@pytest.mark.parametrize("arch, prefix, extras", [
    ("rife4", "", ["teacher.conv0.0.0.weight", "caltime.0.weight"]),
    ("rife3hd", "module.", ["block_tea.conv0.0.0.weight"]),
])
def test_published_layout_loads_strictly_after_cleaning(arch, prefix, extras):
    source = build_generator(arch, {})
    raw = published_layout(source, prefix, extras)
    target = build_generator(arch, {})
    target.load_state_dict(published_state_dict(raw), strict=True)
    for name, tensor in target.state_dict().items():
        assert torch.equal(tensor, source.state_dict()[name])
    with pytest.raises(RuntimeError):  # uncleaned: the extras and the prefix do not fit
        build_generator(arch, {}).load_state_dict(raw, strict=True)


@pytest.mark.parametrize("arch, multiple", [("rife4", 64), ("rife3hd", 32)])
def test_forward_any_size_zero_pads_right_and_bottom(arch, multiple):
    torch.manual_seed(0)
    network = build_generator(arch, {}).eval()
    assert network.size_multiple == 1 and network.pad_multiple == multiple
    frame0, frame1 = smooth_pair(37, 50)
    times = torch.tensor([[0.5]])
    with torch.inference_mode():
        out = network(frame0, frame1, times)
        padded = network(F.pad(frame0, (0, -50 % multiple, 0, -37 % multiple)),
                         F.pad(frame1, (0, -50 % multiple, 0, -37 % multiple)), times)
    assert out.shape == (1, 1, 3, 37, 50)
    assert 0 <= out.min() and out.max() <= 1
    torch.testing.assert_close(out, padded[..., :37, :50], atol=1e-5, rtol=0)


def test_upstream_scale_half_pads_to_twice_the_multiple():
    network = build_generator("rife4", {"scale": 0.5}).eval()
    assert network.pad_multiple == 128 and network.scales == [32, 16, 8, 4, 2]
    frame0, frame1 = smooth_pair(37, 50)
    with torch.inference_mode():
        assert network(frame0, frame1, torch.tensor([[0.5]])).shape == (1, 1, 3, 37, 50)


def test_rife4_all_times_in_one_call_equal_separate_calls():
    torch.manual_seed(1)
    network = Rife4().eval()
    frame0, frame1 = smooth_pair(64, 64, batch=2)
    times = torch.tensor([[0.0, 0.2, 0.5, 0.9], [0.1, 0.3, 0.7, 1.0]])
    with torch.inference_mode():
        together = network(frame0, frame1, times)
        separate = torch.cat([network(frame0, frame1, times[:, k:k + 1]) for k in range(4)], 1)
        single = network(frame0[1:], frame1[1:], times[1:, 2:3])
    assert together.shape == (2, 4, 3, 64, 64)
    torch.testing.assert_close(together, separate, atol=1e-5, rtol=0)
    torch.testing.assert_close(together[1:, 2:3], single, atol=1e-5, rtol=0)
    assert not torch.allclose(together[:, 0], together[:, 2])  # t is an input: another t, another frame


def test_nearest_dyadic_time():
    assert nearest_dyadic_time(0.5, 1) == Fraction(1, 2)
    assert nearest_dyadic_time(0.3, 4) == Fraction(5, 16)
    assert nearest_dyadic_time(1 / 7, 3) == Fraction(1, 8)
    assert nearest_dyadic_time(3 / 7, 4) == Fraction(7, 16)
    assert nearest_dyadic_time(0.25, 4) == Fraction(1, 4)  # reduced: a quarter is two bisections deep
    assert nearest_dyadic_time(0.01, 4) == 0 and nearest_dyadic_time(0.99, 4) == 1
    assert nearest_dyadic_time(-0.2, 3) == 0 and nearest_dyadic_time(1.5, 3) == 1


def test_bisection_levels_share_midpoints():
    wanted = {(0, Fraction(1, 4)), (0, Fraction(1, 2)), (1, Fraction(3, 8)), (1, Fraction(0))}
    assert bisection_levels(wanted) == [
        [(0, Fraction(1, 2)), (1, Fraction(1, 2))],
        [(0, Fraction(1, 4)), (1, Fraction(1, 4))],
        [(1, Fraction(3, 8))],
    ]


def test_rife3hd_reaches_other_times_by_bisection():
    torch.manual_seed(2)
    network = Rife3HD().eval()
    frame0, frame1 = smooth_pair(32, 32)
    with torch.inference_mode():
        frames = network(frame0, frame1, torch.tensor([[0.0, 0.3, 0.5, 1.0]]))
        half = network.midpoint(frame0, frame1)
        quarter = network.midpoint(frame0, half)
        three_eighths = network.midpoint(quarter, half)
        five_sixteenths = network.midpoint(quarter, three_eighths)  # 0.3 -> 10/32 = 5/16 at max_depth 5
    assert torch.equal(frames[0, 0], frame0[0]) and torch.equal(frames[0, 3], frame1[0])
    torch.testing.assert_close(frames[0, 2], half[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(frames[0, 1], five_sixteenths[0], atol=1e-5, rtol=0)
    shallow = Rife3HD(Rife3HD().config.model_copy(update={"max_depth": 1})).eval()
    shallow.load_state_dict(network.state_dict())
    with torch.inference_mode():  # at depth 1, 0.3 is the midpoint
        torch.testing.assert_close(shallow(frame0, frame1, torch.tensor([[0.3]]))[0, 0], half[0], atol=1e-5, rtol=0)


def test_rife_loss_is_zero_on_the_targets_and_sees_fine_detail():
    loss = RifeLoss(RifeLossConfig())
    real = torch.rand(1, 3, 3, 32, 32)
    assert all(term == 0 for term in loss({"frames": real}, real).values())
    fine = real.clone()
    fine[:, 1, :, ::2, ::2] += 0.1  # a high-frequency pattern: L1 small, Laplacian band large
    terms = loss({"frames": fine}, real)
    assert terms["laplacian"] > terms["l1"] > 0
