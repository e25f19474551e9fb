"""The frames manifest (schema framegen/frames): what `extract` wrote, read by every later stage.

A frames folder holds numbered PNG frames (000000.png, ...) and manifest.json (FramesManifest): the source
movie (`SourceInfo`: size, frame rate, rotation applied) and, for every frame, its source frame index and
timestamp (`FrameInfo`). `read_frames_manifest` checks the manifest; `iter_frames` decodes the PNGs in order
on a small thread pool, a few frames ahead, so memory stays flat for any movie length."""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Callable, Iterator, TypeVar

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict

from framegen.core.manifest import Manifest, read_manifest, resolve_inside
from framegen.core.media.images import read_png_fast

WORKERS = min(4, os.cpu_count() or 1)  # PNG encode/decode threads (OpenCV releases the GIL)
AHEAD = 2 * WORKERS  # frames in flight between the pipe and the PNG files
MAX_FRAME_RATE = 10000  # frames a second: above any camera's, so a larger one in a manifest is damage


T = TypeVar("T")


class SourceInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str  # absolute path of the movie when it was extracted (informational)
    sha256: str
    codec: str
    width: int  # as stored in the file
    height: int
    rotation: int = 0  # degrees counter-clockwise the frames were turned to stand upright (phone videos)
    fps: FrameRate  # rational, e.g. "24/1" or "24000/1001"
    duration: float | None  # seconds, as the container announces it


def check_frame_rate(value: str) -> str:
    """A frame rate read from a manifest: a rational ("24/1", "24000/1001") above 0 and finite."""
    try:
        rate = Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"must be a frame rate such as '24/1' or '24000/1001', got {value!r}") from None
    if not 0 < rate <= MAX_FRAME_RATE:
        raise ValueError(f"must be above 0 and at most {MAX_FRAME_RATE} frames a second, got {value!r}")
    return value


FrameRate = Annotated[str, AfterValidator(check_frame_rate)]


class FrameInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: str  # relative to the frames folder
    source_index: int  # frame number in the movie, 0-based
    timestamp: float  # seconds from the start of the movie


class FramesManifest(Manifest):
    SCHEMA = "framegen/frames"
    SCHEMA_VERSION = 1

    source: SourceInfo
    width: int  # of the written frames
    height: int
    fps: FrameRate  # the movie's frame rate as a rational (frames keep their source index and timestamp)
    frame_count: int
    frames: list[FrameInfo]
    warnings: list[str] = []


def read_frames_manifest(folder: Path) -> FramesManifest:
    """The frames manifest of an extract folder; refuses one whose frame paths leave the folder."""
    manifest = read_manifest(FramesManifest, folder)
    for frame in manifest.frames:
        resolve_inside(folder, frame.file)
    return manifest


def iter_frames(
    folder: Path, frames: list[FrameInfo], transform: Callable[[np.ndarray], T] | None = None
) -> Iterator[tuple[FrameInfo, T]]:
    """Decode `frames` (from `read_frames_manifest`, which checked their paths) in order, a few ahead on
    a thread pool, so memory stays bounded.

    Yields (info, image) with image uint8 (H, W, 3) RGB, or (info, transform(image)) when `transform`
    is given; the transform runs on the worker threads too.
    """
    def load(path: Path):
        image = read_png_fast(path)
        return transform(image) if transform is not None else image

    with ThreadPoolExecutor(WORKERS) as pool:
        pending: deque = deque()
        for info in frames:
            pending.append((info, pool.submit(load, Path(folder) / info.file)))
            if len(pending) > AHEAD:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()


WORKERS = min(4, os.cpu_count() or 1)  # PNG encode/decode threads (OpenCV releases the GIL)


AHEAD = 2 * WORKERS  # frames in flight between the pipe and the PNG files
