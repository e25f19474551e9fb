"""The `blend` engine: a cross-fade, (1 - t) * image0 + t * image1. The reference every other engine must beat."""

from __future__ import annotations

import numpy as np

from framegen.core.engines.base import Engine


class BlendEngine(Engine):
    name = "blend"

    def interpolate_float(self, image0: np.ndarray, image1: np.ndarray, times: list[float]) -> list[np.ndarray]:
        return [(1.0 - t) * image0 + t * image1 for t in times]
