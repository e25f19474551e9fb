"""The `minterpolate` engine: ffmpeg's motion-compensated frame-rate filter (`minterpolate=fps=N:mi_mode=mci`)
run on the two end frames as a tiny 1 fps video, the usual classical baseline. Its timing includes starting
ffmpeg. RGB only. ffmpeg's frames are read one at a time from its pipe, and only those asked for are kept
until they are handed out."""

from __future__ import annotations

import math
import subprocess
import tempfile
import threading
from fractions import Fraction
from typing import Iterator

import numpy as np

from framegen.core.engines.base import Engine
from framegen.core.errors import ExternalToolError, InputError
from framegen.core.media.convert import image_from_float, uint8_to_float
from framegen.core.media.ffmpeg import ffmpeg_binary, last_error_line


class MinterpolateEngine(Engine):
    """ffmpeg's minterpolate (mci) on a 2-frame, 1 fps video: the frames at t = k / N come out at N fps."""

    name = "minterpolate"
    BYTES_PER_PIXEL = 60  # the float pair and the 3 raw input frames; ffmpeg's own memory is its process's

    def interpolate_float(self, image0: np.ndarray, image1: np.ndarray, times: list[float]) -> Iterator[np.ndarray]:
        if image0.shape[2] != 3:
            raise InputError("the minterpolate engine takes RGB images only")
        steps = math.lcm(*(Fraction(t).limit_denominator(64).denominator for t in times))
        h, w, _ = image0.shape
        end = image_from_float(image1)
        raw = np.stack([image_from_float(image0), end, end]).tobytes()  # minterpolate stops before its last input
        # argv, not ffmpeg-python: one fixed filter between two pipes reads clearer as a list
        command = [ffmpeg_binary(), "-hide_banner", "-nostdin", "-loglevel", "error",
                   "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "1", "-i", "pipe:0",
                   "-vf", f"minterpolate=fps={steps}:mi_mode=mci", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
        wanted = [round(t * steps) for t in times]  # the output frame of each time
        with tempfile.TemporaryFile() as log:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
            feeder = threading.Thread(target=_feed, args=(process, raw), daemon=True)  # stdout never blocks stdin
            feeder.start()
            try:
                yield from _pick_frames(process.stdout, (h, w), wanted)
            except EOFError:
                process.wait()
                log.seek(0)
                raise ExternalToolError(f"ffmpeg minterpolate failed: {last_error_line(log.read())}") from None
            finally:
                process.kill()
                process.wait()
                feeder.join()
                process.stdout.close()


def _feed(process: subprocess.Popen, raw: bytes) -> None:
    try:
        process.stdin.write(raw)
        process.stdin.close()
    except (BrokenPipeError, ValueError, OSError):  # ffmpeg stopped (an error, or killed once done)
        pass


def _pick_frames(stream, size: tuple[int, int], wanted: list[int]) -> Iterator[np.ndarray]:
    """Read raw frames in order from `stream`; yield frame `wanted[i]` for each i, in that order, as float.
    Only frames still to be handed out are kept. EOFError when the stream ends too early."""
    h, w = size
    kept: dict[int, np.ndarray] = {}
    read = 0
    for position, index in enumerate(wanted):
        while index not in kept:
            data = stream.read(h * w * 3)
            if len(data) < h * w * 3:
                raise EOFError
            if read in wanted[position:]:
                kept[read] = uint8_to_float(np.frombuffer(data, np.uint8).reshape(h, w, 3))  # float32 (H, W, 3)
            read += 1
        frame = kept[index]
        if index not in wanted[position + 1:]:
            del kept[index]
        yield frame
