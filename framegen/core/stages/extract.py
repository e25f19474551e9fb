"""extract: decode a movie into numbered PNG frames and the frames manifest (schema framegen/frames).

The movie is opened by core/media/movie.py: probed (unreadable, empty, audio-only or tiny movies are refused
with one line, exit 3), then decoded, trimmed (`--start`, `--end`), thinned (`--every`) and scaled by one
ffmpeg process whose raw RGB frames are read one at a time. Here a small thread pool encodes and writes
the PNGs, so memory stays flat for any movie length, and the manifest records each frame's source frame
index and timestamp (index = round(timestamp * fps), exact for constant-frame-rate movies). A movie with
rotation metadata (phone videos) comes out upright at its displayed size, and the manifest records the
rotation applied (`source.rotation`). A movie that ffmpeg decodes only in part keeps the frames ffmpeg
could decode: the manifest lists the problem under `warnings` and it is printed on stderr; if no frame
decodes at all, it is an InputError.

Frames are named by output order (000000.png, 000001.png, ...); the manifest maps each one to its
source frame index. The folder is written inside `stage_output`: a killed run leaves its partial
marker and no manifest, and the next run redoes the folder from scratch.
"""

from __future__ import annotations

import itertools
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from framegen.core.errors import InputError, UsageError
from framegen.core.formats.frames import AHEAD, WORKERS, FrameInfo, FramesManifest, SourceInfo
from framegen.core.manifest import sha256_file, write_manifest
from framegen.core.media.images import encode_png_fast
from framegen.core.media.movie import MIN_SIDE, MovieReader, probe_movie, working_size
from framegen.core.progress import progress
from framegen.core.workspace import stage_output


class ExtractConfig(BaseModel):
    """Options of `framegen extract`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    max_side: int = Field(640, ge=0)  # working size: longest side in pixels, 0 = the movie's own size
    start: float = Field(0.0, ge=0.0)  # seconds from the start of the movie
    end: float | None = Field(None, gt=0.0)  # seconds; None = to the end
    every: int = Field(1, ge=1)  # keep one frame in `every`

    @field_validator("max_side")
    @classmethod
    def _usable_size(cls, value: int) -> int:
        if 0 < value < MIN_SIDE:
            raise ValueError(f"must be 0 (the movie's size) or at least {MIN_SIDE}")
        return value

    @model_validator(mode="after")
    def _end_after_start(self) -> "ExtractConfig":
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end}) must come after start ({self.start})")
        return self








def _write_png(path: Path, frame: np.ndarray) -> None:
    path.write_bytes(encode_png_fast(frame))


def extract(movie: Path, folder: Path, config: ExtractConfig, overwrite: bool = False) -> FramesManifest:
    """Decode `movie` into `folder`: PNG frames + manifest.json (written last). Returns the manifest."""
    movie = Path(movie)
    info = probe_movie(movie)
    if info.still:
        raise InputError(f"{movie}: a still image, not a movie: extract takes a movie (for two stills, "
                         "`framegen interpolate A B` animates between them)")
    if info.duration is not None and config.start >= info.duration:
        raise UsageError(f"--start {config.start:g} s is past the end of {movie} ({info.duration:g} s long)")
    width, height = working_size(info, config.max_side)
    if min(width, height) < MIN_SIDE:  # a small --max-side on a wide movie: the short side is below the minimum
        raise UsageError(f"--max-side {config.max_side} makes {width}x{height} frames; framegen needs at least "
                         f"{MIN_SIDE} px a side (give a larger --max-side, or 0)")
    reader = MovieReader(movie, info, config.max_side, config.start, config.end, config.every)
    with reader:
        decoded = iter(reader)
        first = next(decoded, None)  # before --overwrite removes anything: a range without frames is refused
        if first is None and (config.start > 0 or config.end is not None):
            raise UsageError(f"{movie}: no frames between --start and --end")
        with stage_output(folder, "extract", overwrite, inputs=[movie]), ThreadPoolExecutor(WORKERS) as pool:
            source_hash = pool.submit(sha256_file, movie)
            frames = decoded if first is None else itertools.chain([first], decoded)
            files = _write_frames(frames, reader.expected_frames(), folder, pool)
            reader.check_decoded()
            fps = reader.frame_rate()
            infos = [
                FrameInfo(file=name, source_index=max(0, round(seconds * fps)), timestamp=float(seconds))
                for name, seconds in zip(files, reader.timestamps())
            ]
            width, height = reader.size
            manifest = FramesManifest(
                **FramesManifest.header(config.model_dump()),
                source=SourceInfo(
                    path=str(movie.resolve()), sha256=source_hash.result(), codec=info.codec,
                    width=info.width, height=info.height, rotation=info.rotation, fps=_rational(fps),
                    duration=info.duration,
                ),
                width=width,
                height=height,
                fps=_rational(fps),
                frame_count=len(infos),
                frames=infos,
                warnings=reader.report_warnings(),
            )
            write_manifest(manifest, folder)
    return manifest


def _write_frames(frames: Iterator[np.ndarray], expected: int | None, folder: Path, pool: ThreadPoolExecutor
                  ) -> list[str]:
    """Write every frame of `frames` (about `expected` of them) as a PNG, a few in flight on `pool`; return
    the file names."""
    files: list[str] = []
    pending: deque = deque()
    with progress(unit="frames") as bar:
        task = bar.add_task("extract", total=expected)
        for frame in frames:
            name = f"{len(files):06d}.png"
            pending.append(pool.submit(_write_png, folder / name, frame))
            files.append(name)
            if len(pending) > AHEAD:
                pending.popleft().result()
            bar.advance(task)
        while pending:
            pending.popleft().result()
    return files


def _rational(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"




