"""The `blend` engine: a cross-fade, (1 - t) * image0 + t * image1. The reference every other engine must beat."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from framegen.core.engines.base import Engine


class BlendEngine(Engine):
    name = "blend"

    BYTES_PER_PIXEL = 60  # the float pair (24) and one float frame with its temporaries

    def interpolate_float(self, image0: np.ndarray, image1: np.ndarray, times: list[float]) -> Iterator[np.ndarray]:
        return ((1.0 - t) * image0 + t * image1 for t in times)
