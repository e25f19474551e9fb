"""extract: decode a movie into numbered PNG frames and the frames manifest (schema framegen/frames).

One ffmpeg process decodes, trims, thins (`--every`) and scales in a single pass and writes raw RGB
frames to a pipe; its command is built with ffmpeg-python and started with an argument list (never a
shell). Python reads one frame at a time from the pipe and a small thread pool encodes and writes the
PNGs, so memory stays flat for any movie length. A `showinfo` filter at the end of the chain reports the
exact timestamp of every frame it lets through, from which the manifest records each frame's source
frame index and timestamp (index = round(timestamp * fps), exact for constant-frame-rate movies).

The movie is probed first by parsing `ffmpeg -i` (the static ffmpeg of imageio-ffmpeg has no ffprobe).
Refused with one line (InputError, exit 3): a missing file, a folder, an empty file, a file ffmpeg cannot
read (a text file named .mp4, a movie cut before its index), a file without a video stream, frames
smaller than MIN_SIDE pixels. A movie that ffmpeg decodes only in part (data cut off or corrupt after
its index) keeps the frames ffmpeg could decode: the manifest lists the problem under `warnings` and
it is printed on stderr; if no frame decodes at all, it is an InputError.

Frames are named by output order (000000.png, 000001.png, ...); the manifest maps each one to its
source frame index. The folder is written inside `stage_output`: a killed run leaves its partial
marker and no manifest, and the next run redoes the folder from scratch.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import ffmpeg
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from framegen.core import console
from framegen.core.errors import ExternalToolError, InputError, UsageError
from framegen.core.ffmpeg import ffmpeg_binary, file_arg, last_error_line
from framegen.core.images import encode_png_fast, read_png_fast
from framegen.core.manifest import Manifest, read_manifest, resolve_inside, sha256_file, write_manifest
from framegen.core.workspace import stage_output

MIN_SIDE = 16  # smaller frames carry no usable motion; refused rather than blown up
WORKERS = min(4, os.cpu_count() or 1)  # PNG encode/decode threads (OpenCV releases the GIL)
AHEAD = 2 * WORKERS  # frames in flight between the pipe and the PNG files

T = TypeVar("T")


class ExtractConfig(BaseModel):
    """Options of `framegen extract`."""

    model_config = ConfigDict(extra="forbid")

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


class SourceInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str  # absolute path of the movie when it was extracted (informational)
    sha256: str
    codec: str
    width: int
    height: int
    fps: str  # rational, e.g. "24/1" or "24000/1001"
    duration: float | None  # seconds, as the container announces it


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
    fps: str  # the movie's frame rate as a rational (frames keep their source index and timestamp)
    frame_count: int
    frames: list[FrameInfo]
    warnings: list[str] = []


@dataclass
class MovieInfo:
    """What `ffmpeg -i` says about the first video stream."""

    codec: str
    width: int  # stored size
    height: int
    display_width: int  # width after the sample aspect ratio (anamorphic video)
    fps: float | None  # as printed (rounded); the exact rational comes from the decode pass
    duration: float | None  # seconds
    start: Fraction  # the container's start time, seconds


_VIDEO_LINE = re.compile(r"Stream #\d+:\d+.*?: Video: (?P<codec>\w+)(?P<rest>.*)")
_SIZE = re.compile(r",\s(\d+)x(\d+)\b")
_SAR = re.compile(r"\[?SAR (\d+):(\d+)")
_FPS = re.compile(r"([\d.]+)(k?) fps")
_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_START = re.compile(r"start: (-?\d+(?:\.\d+)?)")
_SHOWINFO_CONFIG = re.compile(r"config in time_base: (\d+)/(\d+), frame_rate: (\d+)/(\d+)")
_SHOWINFO_FRAME = re.compile(r"\bn:\s*\d+ pts:\s*(-?\d+) pts_time:")


def probe_movie(movie: Path) -> MovieInfo:
    """Check that `movie` is a readable file with a video stream; refuse anything else with one line."""
    movie = Path(movie)
    if not movie.exists():
        raise InputError(f"{movie}: no such file")
    if movie.is_dir():
        raise InputError(f"{movie}: is a folder, expected a movie file")
    if movie.stat().st_size == 0:
        raise InputError(f"{movie}: empty file (0 bytes), not a movie")
    completed = subprocess.run(
        [ffmpeg_binary(), "-hide_banner", "-nostdin", "-loglevel", "level+info", "-i", file_arg(movie)],
        capture_output=True,
    )
    text = completed.stderr.decode(errors="replace")
    if "Input #0" not in text:
        reason = _error_reason(text)
        raise InputError(f"{movie}: not a readable movie, truncated or not a video file (ffmpeg: {reason})")
    video = next(
        (m for m in map(_VIDEO_LINE.search, text.splitlines()) if m and "(attached pic)" not in m["rest"]), None
    )
    if video is None:
        raise InputError(f"{movie}: has no video stream (audio only or another kind of file)")
    size = _SIZE.search(video["rest"])
    if size is None:
        raise InputError(f"{movie}: ffmpeg reports no frame size for its video stream")
    width, height = int(size[1]), int(size[2])
    if min(width, height) < MIN_SIDE:
        raise InputError(f"{movie}: frames are {width}x{height}; framegen needs at least {MIN_SIDE} pixels a side")
    sar = _SAR.search(video["rest"])
    sar_ratio = Fraction(int(sar[1]), int(sar[2])) if sar and int(sar[1]) > 0 and int(sar[2]) > 0 else Fraction(1)
    fps = _FPS.search(video["rest"])
    duration = _DURATION.search(text)
    start = _START.search(text)
    return MovieInfo(
        codec=video["codec"],
        width=width,
        height=height,
        display_width=max(MIN_SIDE, round(width * sar_ratio)),
        fps=float(fps[1]) * (1000 if fps[2] else 1) if fps else None,
        duration=int(duration[1]) * 3600 + int(duration[2]) * 60 + float(duration[3]) if duration else None,
        start=Fraction(start[1]) if start else Fraction(0),
    )


def _error_reason(ffmpeg_stderr: str) -> str:
    """The first error ffmpeg logged (with `-loglevel level+info`), e.g. "moov atom not found"."""
    for line in ffmpeg_stderr.splitlines():
        if "[error]" in line or "[fatal]" in line:
            return line.split("]")[-1].strip()
    return last_error_line(ffmpeg_stderr.encode())


def working_size(info: MovieInfo, max_side: int) -> tuple[int, int]:
    """(width, height) of the written frames: the display size, shrunk so its longest side is at most
    `max_side` (0 = no limit), aspect kept; even when scaled, as most codecs want for a later re-encode."""
    width, height = info.display_width, info.height
    if max_side == 0 or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def decode_command(movie: Path, info: MovieInfo, config: ExtractConfig, size: tuple[int, int]) -> list[str]:
    """The one ffmpeg command: seek, trim, keep every Nth frame, scale, report timestamps, raw RGB out."""
    source = ffmpeg.input(file_arg(movie), **({"ss": config.start} if config.start > 0 else {}))
    video = source["V:0"]  # first video stream that is not cover art
    if config.end is not None:  # with -copyts timestamps are the movie's own, offset by its start time
        video = video.filter("trim", end=float(info.start + Fraction(config.end)))
    if config.every > 1:
        video = video.filter("select", f"not(mod(n,{config.every}))")
    if size != (info.width, info.height):
        video = video.filter("scale", *size)
    video = video.filter("showinfo", checksum=0)  # one log line per frame: its pts
    output = ffmpeg.output(video, "pipe:", format="rawvideo", pix_fmt="rgb24", fps_mode="passthrough")
    return [ffmpeg_binary(), "-hide_banner", "-nostdin", "-loglevel", "level+info", "-copyts", *output.get_args()]


class _StderrReader(threading.Thread):
    """Collects, from ffmpeg's stderr: the stream's time base and frame rate, every frame's pts, and
    the error lines (decoding problems). Runs beside the pipe reader so neither pipe can fill up."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream = stream
        self.time_base: Fraction | None = None
        self.frame_rate: Fraction | None = None
        self.pts: list[int] = []
        self.errors: list[str] = []
        self.last_line = ""

    def run(self) -> None:
        for raw in self.stream:
            line = raw.decode(errors="replace").rstrip()
            if not line:
                continue
            self.last_line = line
            frame = _SHOWINFO_FRAME.search(line)
            if frame:
                self.pts.append(int(frame[1]))
            elif "[error]" in line or "[fatal]" in line:
                self.errors.append(_error_reason(line))
            elif self.time_base is None and (config := _SHOWINFO_CONFIG.search(line)):
                self.time_base = Fraction(int(config[1]), int(config[2]))
                if int(config[3]) > 0 and int(config[4]) > 0:
                    self.frame_rate = Fraction(int(config[3]), int(config[4]))


def _read_exactly(stream, size: int) -> bytes | None:
    """One frame from the pipe; None at the end (a torn last frame is dropped)."""
    data = stream.read(size)
    return data if len(data) == size else None


def _write_png(path: Path, frame: np.ndarray) -> None:
    path.write_bytes(encode_png_fast(frame))


def extract(movie: Path, folder: Path, config: ExtractConfig, overwrite: bool = False) -> FramesManifest:
    """Decode `movie` into `folder`: PNG frames + manifest.json (written last). Returns the manifest."""
    movie = Path(movie)
    info = probe_movie(movie)
    if info.duration is not None and config.start >= info.duration:
        raise UsageError(f"--start {config.start:g} s is past the end of {movie} ({info.duration:g} s long)")
    size = working_size(info, config.max_side)
    command = decode_command(movie, info, config, size)
    console.debug("ffmpeg command: " + " ".join(command))
    with stage_output(folder, "extract", overwrite), ThreadPoolExecutor(WORKERS) as pool:
        source_hash = pool.submit(sha256_file, movie)
        frames, reader = _decode_frames(command, folder, size, _expected_frames(info, config), pool)
        fps = reader.frame_rate or Fraction(info.fps or 0).limit_denominator(1001)
        if not frames:
            if config.start > 0 or config.end is not None:
                raise UsageError(f"{movie}: no frames between --start and --end")
            raise InputError(f"{movie}: no frame could be decoded ({_decode_problem(reader)})")
        if fps <= 0:
            raise InputError(f"{movie}: ffmpeg reports no frame rate for its video stream")
        if reader.time_base is None or len(reader.pts) != len(frames):
            raise ExternalToolError(f"ffmpeg reported {len(reader.pts)} timestamps for {len(frames)} frames")
        infos = []
        for number, pts in enumerate(reader.pts):
            seconds = pts * reader.time_base - info.start
            infos.append(
                FrameInfo(file=frames[number], source_index=max(0, round(seconds * fps)), timestamp=float(seconds))
            )
        warnings = _decode_warnings(reader, len(frames), info, config, fps)
        for warning in warnings:
            console.log(f"[yellow]warning:[/yellow] {movie}: {warning}")
        manifest = FramesManifest(
            **FramesManifest.header(config.model_dump()),
            source=SourceInfo(
                path=str(movie.resolve()), sha256=source_hash.result(), codec=info.codec,
                width=info.width, height=info.height, fps=_rational(fps), duration=info.duration,
            ),
            width=size[0],
            height=size[1],
            fps=_rational(fps),
            frame_count=len(infos),
            frames=infos,
            warnings=warnings,
        )
        write_manifest(manifest, folder)
    return manifest


def _decode_frames(
    command: list[str], folder: Path, size: tuple[int, int], expected: int | None, pool: ThreadPoolExecutor
) -> tuple[list[str], _StderrReader]:
    """Run ffmpeg, write every frame it pipes out as a PNG; return the file names and the stderr facts."""
    width, height = size
    frame_bytes = width * height * 3
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader = _StderrReader(process.stderr)
    reader.start()
    files: list[str] = []
    pending: deque = deque()
    try:
        with console.progress(unit="frames") as bar:
            task = bar.add_task("extract", total=expected)
            while (data := _read_exactly(process.stdout, frame_bytes)) is not None:
                frame = np.frombuffer(data, np.uint8).reshape(height, width, 3)  # uint8 (H, W, 3) RGB
                name = f"{len(files):06d}.png"
                pending.append(pool.submit(_write_png, folder / name, frame))
                files.append(name)
                if len(pending) > AHEAD:
                    pending.popleft().result()
                bar.advance(task)
            while pending:
                pending.popleft().result()
        process.wait()
    finally:
        if process.poll() is None:  # interrupted: do not leave ffmpeg running
            process.kill()
            process.wait()
        reader.join()
        process.stdout.close()
        process.stderr.close()
    return files, reader


def _expected_frames(info: MovieInfo, config: ExtractConfig) -> int | None:
    """About how many frames the run will write (for the progress bar's total and the truncation check)."""
    if info.duration is None or not info.fps:
        return None
    end = info.duration if config.end is None else min(config.end, info.duration)
    return max(0, round((end - config.start) * info.fps / config.every))


def _decode_problem(reader: _StderrReader) -> str:
    return reader.errors[0] if reader.errors else (reader.last_line or "no message from ffmpeg")


def _decode_warnings(
    reader: _StderrReader, written: int, info: MovieInfo, config: ExtractConfig, fps: Fraction
) -> list[str]:
    warnings = []
    if reader.errors:
        warnings.append(
            f"ffmpeg reported {len(reader.errors)} decoding error(s), first: {reader.errors[0]!r}; "
            "frames near the damage may be corrupt"
        )
    expected = _expected_frames(info, config)
    if expected is not None and written < 0.95 * expected - 1:
        warnings.append(
            f"decoded {written} frames where the container announces about {expected}: "
            "the movie looks truncated; kept the frames that decoded"
        )
    return warnings


def _rational(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


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
