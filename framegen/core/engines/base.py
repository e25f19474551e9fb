"""The engine interface: two images + times t in (0, 1) -> the in-between frames (see engines/__init__.py)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

import numpy as np

from framegen.core.convert import image_from_float, image_to_float
from framegen.core.errors import InputError, UsageError


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
