"""The engine interface: two images + times t in (0, 1) -> the in-between frames (see engines/__init__.py).

Frames are made one at a time (`frames`, a generator): what an engine holds is its working set for one
pair, never all the frames, so memory does not grow with the number of in-betweens. `memory_needed`
estimates that working set before any work, and `fit_memory` lets an engine shrink its working set (the
model engine tiles sooner) to fit a budget or refuse.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Iterable, Iterator, Sequence

import numpy as np

from framegen.core.errors import InputError, UsageError
from framegen.core.media.convert import image_from_float, image_to_float


class Engine(ABC):
    name: str
    # Peak working memory per pixel of the pair, bytes, at C = 3 channels (scaled by C / 3 for RGBA):
    # measured as the growth of peak RSS with the image size (bench/bench_interpolate_memory.py).
    BYTES_PER_PIXEL = 100

    def frames(self, image0: np.ndarray, image1: np.ndarray, times: Sequence[float]) -> Iterator[np.ndarray]:
        """The frames at `times` between image0 (t = 0) and image1 (t = 1), uint8, same shape as the inputs,
        made one at a time. The pair and the times are checked at once, not at the first frame."""
        check_pair(image0, image1)
        times = check_times(times)
        made = self.interpolate_float(image_to_float(image0), image_to_float(image1), times)
        return (image_from_float(frame) for frame in made)

    def interpolate(self, image0: np.ndarray, image1: np.ndarray, times: Sequence[float]) -> list[np.ndarray]:
        """All the frames of `frames` in a list (for a few times; a long sequence should stream `frames`)."""
        return list(self.frames(image0, image1, times))

    def memory_needed(self, height: int, width: int, channels: int) -> int:
        """Estimated peak working memory, bytes, to interpolate one pair of this size (any number of times)."""
        return int(self.BYTES_PER_PIXEL * height * width * channels / 3)

    def fit_memory(self, height: int, width: int, channels: int, budget: int) -> int:
        """Adapt to `budget` bytes where the engine can; return memory_needed after adapting."""
        return self.memory_needed(height, width, channels)

    @abstractmethod
    def interpolate_float(self, image0: np.ndarray, image1: np.ndarray, times: list[float]) -> Iterable[np.ndarray]:
        """image0, image1: float32 (H, W, C) in [0, 1], C = 3 (RGB) or 4 (premultiplied RGB + alpha).
        Returns (preferably yields, one at a time) float32 (H, W, C) frames in [0, 1], one per time."""


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
