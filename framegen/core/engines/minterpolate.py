"""The `minterpolate` engine: ffmpeg's motion-compensated frame-rate filter (`minterpolate=fps=N:mi_mode=mci`)
run on the two end frames as a tiny 1 fps video, the usual classical baseline. Its timing includes starting
ffmpeg. RGB only."""

from __future__ import annotations

import math
import subprocess
from fractions import Fraction

import numpy as np

from framegen.core.convert import image_from_float, uint8_to_float
from framegen.core.engines.base import Engine
from framegen.core.errors import ExternalToolError, InputError
from framegen.core.ffmpeg import ffmpeg_binary, last_error_line


class MinterpolateEngine(Engine):
    """ffmpeg's minterpolate (mci) on a 2-frame, 1 fps video: the frames at t = k / N come out at N fps."""

    name = "minterpolate"

    def interpolate_float(self, image0: np.ndarray, image1: np.ndarray, times: list[float]) -> list[np.ndarray]:
        if image0.shape[2] != 3:
            raise InputError("the minterpolate engine takes RGB images only")
        steps = math.lcm(*(Fraction(t).limit_denominator(64).denominator for t in times))
        h, w, _ = image0.shape
        end = image_from_float(image1)
        raw = np.stack([image_from_float(image0), end, end]).tobytes()  # minterpolate stops before its last input
        command = [ffmpeg_binary(), "-hide_banner", "-nostdin", "-loglevel", "error",
                   "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "1", "-i", "pipe:0",
                   "-vf", f"minterpolate=fps={steps}:mi_mode=mci", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
        done = subprocess.run(command, input=raw, capture_output=True)
        size = (steps + 1) * h * w * 3
        if done.returncode != 0 or len(done.stdout) < size:
            raise ExternalToolError(f"ffmpeg minterpolate failed: {last_error_line(done.stderr)}")
        frames = np.frombuffer(done.stdout[:size], np.uint8).reshape(steps + 1, h, w, 3)  # uint8 (N+1, H, W, 3)
        return [uint8_to_float(frames[round(t * steps)]) for t in times]
