"""framegen's rife4 and rife3hd against the reference code they were written from, without the wheels: the
reference's frames for seeded random weights in the published layout were made once by
bench/make_rife_golden.py (tests/data/rife_golden.npz). A swapped channel, flow half or block order fails."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.rife_golden import GOLDEN, TIMES, golden_pair, golden_weights

from framegen.core.models.rife import Rife3HD, Rife4


@pytest.mark.parametrize("name, network", [("rife4", Rife4), ("rife3hd", Rife3HD)])
def test_the_network_makes_the_reference_frames(name, network):
    ours = network().eval()
    ours.load_state_dict(golden_weights(ours), strict=True)
    frame0, frame1 = golden_pair()
    with torch.inference_mode():
        made = ours(frame0, frame1, torch.tensor([TIMES]))[0].numpy()  # (K, 3, H, W)
    expected = np.load(GOLDEN)[name]
    assert made.shape == expected.shape
    assert np.abs(made - expected).max() < 1e-4
    assert np.abs(expected[0] - frame0[0].numpy()).mean() > 1e-3  # the frames are not just the first input


def test_the_golden_weights_are_not_the_layout_alone():
    """Another seed gives other frames: the test above depends on the values, not only on the shapes."""
    ours = Rife4().eval()
    ours.load_state_dict(golden_weights(ours, seed=1), strict=True)
    with torch.inference_mode():
        made = ours(*golden_pair(), torch.tensor([TIMES]))[0].numpy()
    assert np.abs(made - np.load(GOLDEN)["rife4"]).max() > 1e-3
