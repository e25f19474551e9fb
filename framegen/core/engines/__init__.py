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

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Sequence

import numpy as np

from framegen.core import console
from framegen.core.convert import image_from_float, image_to_float
from framegen.core.errors import InputError, UsageError

ENGINE_NAMES = ("auto", "blend", "flow", "minterpolate", "model")
CHECKPOINT_ENGINES = ("auto", "model")  # the engines that read --checkpoint
BUNDLED_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"  # framegen/weights/


class Engine(ABC):
    name: str

    def interpolate(self, image0: np.ndarray, image1: np.ndarray, times: Sequence[float]) -> list[np.ndarray]:
        """The frames at `times` between image0 (t = 0) and image1 (t = 1), uint8, same shape as the inputs."""
        check_pair(image0, image1)
        times = check_times(times)
        frames = self.interpolate_float(image_to_float(image0), image_to_float(image1), times)
        return [image_from_float(frame) for frame in frames]

    @abstractmethod
    def interpolate_float(self, image0: np.ndarray, image1: np.ndarray, times: list[float]) -> list[np.ndarray]:
        """image0, image1: float32 (H, W, C) in [0, 1], C = 3 (RGB) or 4 (premultiplied RGB + alpha).
        Returns float32 (H, W, C) frames in [0, 1], one per time."""


def check_pair(image0: np.ndarray, image1: np.ndarray) -> None:
    for image in (image0, image1):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
            raise InputError(f"expected uint8 RGB or RGBA images, got {image.dtype} {image.shape}")
    if image0.shape != image1.shape:
        h0, w0, c0 = image0.shape
        h1, w1, c1 = image1.shape
        raise InputError(f"the two images differ in size or channels: {w0}x{h0}x{c0} and {w1}x{h1}x{c1}")


def check_times(times: Sequence[float]) -> list[float]:
    times = [float(t) for t in times]
    if not times:
        raise UsageError("no in-between times asked for")
    if not all(0.0 < t < 1.0 for t in times):
        raise UsageError(f"times must lie strictly between 0 and 1, got {times}")
    return times


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
