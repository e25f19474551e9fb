"""Interpolation engines: two images + times t in (0, 1) -> the in-between frames. One interface.

    engine = get_engine("flow")
    frames = engine.interpolate(image0, image1, [1/7, 2/7, ..., 6/7])

Images are uint8 (H, W, 3) RGB or (H, W, 4) RGBA, both of the same shape; the frames come back in that
shape. Engines work on float32 (H, W, C) images in [0, 1]. RGBA is interpolated premultiplied (colour
times alpha, then alpha as a 4th channel), so colour and alpha move together and fully transparent pixels
never bleed their colour into the result; the frames are un-premultiplied at the end.

Names (ENGINE_NAMES, the one list): `blend` (cross-fade), `flow` (classical optical flow, no training),
`minterpolate` (ffmpeg's motion-compensated filter, a classical baseline), `model` (an exported trained
generator), and `auto`: the model when one is given (`checkpoint`) or bundled in framegen/weights/ AND
its export metadata records that it beat `flow` on held-out real windows (`beats_flow`, measured by
core/scoring.py during training); else `flow`, with one line on stderr saying why.
"""

from __future__ import annotations

from pathlib import Path

from framegen.core import console
from framegen.core.engines.base import Engine
from framegen.core.errors import UsageError

ENGINE_NAMES = ("auto", "blend", "flow", "minterpolate", "model")
CHECKPOINT_ENGINES = ("auto", "model")  # the engines that read --checkpoint
BUNDLED_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"  # framegen/weights/


def bundled_weights() -> Path | None:
    """framegen/weights/ when it holds an exported model (model.json + model.safetensors)."""
    folder = BUNDLED_WEIGHTS
    return folder if (folder / "model.json").is_file() and (folder / "model.safetensors").is_file() else None


def get_engine(name: str, checkpoint: Path | None = None) -> Engine:
    """The engine called `name` (see ENGINE_NAMES); `checkpoint` is an exported model for `model`/`auto`."""
    if name not in ENGINE_NAMES:
        raise UsageError(f"unknown engine {name!r} (choose from {', '.join(ENGINE_NAMES)})")
    if checkpoint is not None and name not in CHECKPOINT_ENGINES:
        raise UsageError(f"--checkpoint is only used by the model and auto engines, not {name!r}")
    if name == "blend":
        from framegen.core.engines.blend import BlendEngine

        return BlendEngine()
    if name == "flow":
        from framegen.core.engines.flow import FlowEngine

        return FlowEngine()
    if name == "minterpolate":
        from framegen.core.engines.minterpolate import MinterpolateEngine

        return MinterpolateEngine()
    from framegen.core.engines.model import ModelEngine

    if name == "model":
        source = checkpoint if checkpoint is not None else bundled_weights()
        if source is None:
            raise UsageError("the model engine needs --checkpoint (no weights are bundled in this install)")
        return ModelEngine.load(source)
    return _auto_engine(checkpoint)


def _auto_engine(checkpoint: Path | None) -> Engine:
    """`auto`: the learned model only where its export says it beat flow on held-out real windows."""
    from framegen.core.engines.flow import FlowEngine
    from framegen.core.engines.model import ModelEngine

    source = checkpoint if checkpoint is not None else bundled_weights()
    if source is None:
        return FlowEngine()
    engine = ModelEngine.load(source)
    metadata = engine.info.metadata
    if metadata.beats_flow:
        return engine
    if metadata.beats_flow is None or metadata.validation is None or metadata.flow_validation is None:
        why = "its export records no held-out comparison with flow"
    else:
        windows = sum(len(w.indices) for w in metadata.validation_windows or [])
        why = (f"it scored {metadata.validation['psnr']:.2f} dB PSNR against flow's "
               f"{metadata.flow_validation['psnr']:.2f} dB on {windows} held-out windows")
    console.log(f"auto uses flow, not the model in {source}: {why} (--engine model uses it anyway)")
    return FlowEngine()
