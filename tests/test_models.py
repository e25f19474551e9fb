"""The seed model's modules: shapes, ranges, any t, the registry, the discriminator, the losses; and, for every
registered arch (timm-style), odd sizes, gradients to every parameter and the export round trip."""

from __future__ import annotations

import pytest
import torch

from framegen.core.errors import UsageError
from framegen.core.models.blocks import SkipLayerExcitation
from framegen.core.models.export import ExportMetadata, export_model, load_exported
from framegen.core.models.mipal import MipalConfig, MipalGenerator
from framegen.core.models.registry import (
    ARCHS,
    build_discriminator,
    build_generator,
    interpolate_padded,
    resolve_generator_config,
)
from framegen.core.training.losses import LOSSES, AdversarialLoss, build_loss

TINY = {"width": 0.125, "refiner_depth": 4}
SMALL_CONFIGS = {"mipal": TINY, "rife4": {}, "rife3hd": {"max_depth": 2}}  # every registered arch needs a small
# config here (the tests below use it; the RIFE networks have the one size their published weights fit)


@pytest.fixture
def generator():
    torch.manual_seed(0)
    return build_generator("mipal", TINY).eval()


def test_default_config_is_the_faithful_size():
    g = MipalGenerator(MipalConfig())
    with torch.no_grad():
        code = g.encoder(torch.rand(1, 3, 256, 256))
    assert code.shape == (1, 128, 32, 32)  # 256x256x3 -> 32x32x128
    assert g.size_multiple == 256  # pix2pix unet_256: 8 down-samplings
    convs = [m for m in g.modules() if isinstance(m, torch.nn.Conv2d)]
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in g.modules())
    refiner_convs = [m for m in g.refiner.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(refiner_convs) == 16 and all(hasattr(m, "parametrizations") for m in refiner_convs)  # spectral norm
    assert len(convs) > len(refiner_convs)


def test_forward_any_times_shape_and_range(generator):
    frame0, frame1 = torch.rand(2, 3, 32, 48), torch.rand(2, 3, 32, 48)
    times = torch.tensor([[0.1, 0.5, 0.77], [0.3, 0.31, 0.9]])
    with torch.no_grad():
        frames = generator(frame0, frame1, times)
    assert frames.shape == (2, 3, 3, 32, 48)
    assert frames.min() >= 0 and frames.max() <= 1
    with torch.no_grad():  # a time on its own gives the same frame as inside a batch of times
        single = generator(frame0[:1], frame1[:1], times[:1, 1:2])
    torch.testing.assert_close(single[0, 0], frames[0, 1], atol=1e-5, rtol=0)


def test_codes_are_linear_in_t(generator):
    frame0, frame1 = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    times = torch.tensor([[0.0, 0.25, 1.0]])
    with torch.no_grad():
        out = generator(frame0, frame1, times, intermediates=True)
    codes = out["codes"][0]
    torch.testing.assert_close(codes[1], 0.75 * codes[0] + 0.25 * codes[2])
    assert set(out) == {"frames", "stage1", "codes"}


def test_targets_are_encoded_only_when_given(generator):
    frame0, frame1 = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    times = torch.tensor([[0.5]])
    targets = torch.rand(1, 1, 3, 32, 32)
    with torch.no_grad():
        out = generator(frame0, frame1, times, targets, intermediates=True)
    assert out["target_codes"].shape == out["codes"].shape


def test_interpolate_padded_handles_any_size(generator):
    frame0, frame1 = torch.rand(1, 3, 37, 21), torch.rand(1, 3, 37, 21)
    with torch.no_grad():
        frames = interpolate_padded(generator, frame0, frame1, torch.tensor([[0.5]]))
    assert frames.shape == (1, 1, 3, 37, 21)
    with pytest.raises(RuntimeError):
        generator(frame0, frame1, torch.tensor([[0.5]]))  # not a multiple of 16: the unpadded model fails


def test_skip_layer_excitation_gates_channels():
    sle = SkipLayerExcitation(low_channels=8, high_channels=4)
    high, low = torch.ones(2, 4, 32, 32), torch.rand(2, 8, 8, 8)
    gated = sle(high, low)
    assert gated.shape == high.shape
    assert (gated > 0).all() and (gated < 1).all()
    assert torch.allclose(gated[:, :, 0, 0, None, None].expand_as(gated), gated)  # one gate per channel


def test_discriminator_scores_patches_per_frame():
    d = build_discriminator({"channels": 8, "layers": 3})
    frame0, frame1 = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    scores = d(frame0, frame1, torch.rand(2, 5), torch.rand(2, 5, 3, 64, 64))
    assert scores.shape == (10, 1, 6, 6)
    assert all(hasattr(m, "parametrizations") for m in d.modules() if isinstance(m, torch.nn.Conv2d))


def test_registry_refuses_unknown_arch_and_bad_config():
    with pytest.raises(UsageError, match="unknown arch 'nope'"):
        build_generator("nope", {})
    with pytest.raises(UsageError, match="refiner_depth"):
        resolve_generator_config("mipal", {"refiner_depth": 0})
    with pytest.raises(UsageError, match="colour"):
        resolve_generator_config("mipal", {"colour": 1})


def test_mipal_loss_terms_and_gradients(generator):
    loss = build_loss("mipal", {"latent": 0.5})
    assert loss.needs_targets
    generator.train()
    targets = torch.rand(2, 4, 3, 32, 32)
    times = torch.linspace(0, 1, 4).expand(2, 4)
    out = generator(targets[:, 0], targets[:, -1], times, targets, intermediates=True)
    terms = loss(out, targets)
    assert set(terms) == {"l1", "ms_ssim", "refined_l1", "latent"}
    sum(terms.values()).backward()
    assert all(p.grad is not None for p in generator.parameters())
    with torch.no_grad():
        codes = out["codes"]
        perfect = loss({"frames": targets, "stage1": targets, "codes": codes, "target_codes": codes}, targets)
    assert all(float(v) == pytest.approx(0, abs=1e-5) for v in perfect.values())
    assert not build_loss("mipal", {}).needs_targets  # latent term off by default: no extra encoder pass


@pytest.mark.parametrize("kind", ["hinge", "lsgan"])
def test_adversarial_losses_prefer_real_high_scores(kind):
    gan = AdversarialLoss(kind)
    good = gan.discriminator(torch.full((4,), 2.0), torch.full((4,), -2.0))
    bad = gan.discriminator(torch.full((4,), -2.0), torch.full((4,), 2.0))
    assert good < bad
    assert gan.generator(torch.full((4,), 1.0)) < gan.generator(torch.full((4,), -1.0))


def test_every_arch_has_a_loss_and_a_small_test_config():
    assert set(ARCHS) == set(LOSSES) == set(SMALL_CONFIGS)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_every_arch_runs_at_odd_sizes(arch):
    torch.manual_seed(0)
    generator = build_generator(arch, SMALL_CONFIGS[arch]).eval()
    for h, w in [(37, 21), (1, 1), (generator.size_multiple + 3, 5)]:
        frame0, frame1 = torch.rand(2, 3, h, w), torch.rand(2, 3, h, w)
        with torch.no_grad():
            frames = interpolate_padded(generator, frame0, frame1, torch.tensor([[0.3, 0.6], [0.1, 0.9]]))
        assert frames.shape == (2, 2, 3, h, w)
        assert torch.isfinite(frames).all() and frames.min() >= 0 and frames.max() <= 1


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_every_arch_trains_every_parameter(arch):
    torch.manual_seed(0)
    generator = build_generator(arch, SMALL_CONFIGS[arch]).train()
    loss = build_loss(arch, {})
    side = max(32, generator.size_multiple)
    window = torch.rand(2, 4, 3, side, side)  # (B, T, 3, H, W) in [0, 1]
    times = torch.linspace(0, 1, 4).expand(2, 4)
    outputs = generator(window[:, 0], window[:, -1], times, window if loss.needs_targets else None,
                        intermediates=True)
    sum(loss(outputs, window).values()).backward()
    untouched = [name for name, p in generator.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not untouched, f"no gradient reaches {untouched}"


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_every_arch_exports_and_loads_to_the_same_output(arch, tmp_path):
    torch.manual_seed(0)
    generator = build_generator(arch, SMALL_CONFIGS[arch]).eval()
    export_model(tmp_path, arch, SMALL_CONFIGS[arch], generator.state_dict(), ExportMetadata())
    loaded, info = load_exported(tmp_path)
    assert info.arch == arch
    frame0, frame1, times = torch.rand(1, 3, 29, 35), torch.rand(1, 3, 29, 35), torch.tensor([[0.25, 0.5]])
    with torch.no_grad():
        torch.testing.assert_close(interpolate_padded(loaded, frame0, frame1, times),
                                   interpolate_padded(generator, frame0, frame1, times), rtol=0, atol=0)
