"""movie: open a movie and read its frames, one at a time, through one ffmpeg process.

Used by `extract` (frames -> PNG files) and by video mode of `interpolate` (frames -> scene detection,
then -> the interpolating engine) alike.

The movie is probed first by parsing `ffmpeg -i` (the static ffmpeg of imageio-ffmpeg has no ffprobe).
Refused with one line (InputError, exit 3): a missing file, a folder, an empty file, a file ffmpeg cannot
read (a text file named .mp4, a movie cut before its index), a file without a video stream, frames
smaller than MIN_SIDE pixels.

`MovieReader` then runs one ffmpeg process that decodes, trims, thins (keep one frame in `every`) and
scales in a single pass and writes raw RGB frames to a pipe; its command is built with ffmpeg-python and
started with an argument list (never a shell). Python reads one frame at a time, so memory stays flat for
any movie length. A `showinfo` filter at the end of the chain reports the exact timestamp of every frame
it lets through; a thread reads ffmpeg's stderr beside the pipe (so neither pipe can fill up) and keeps
the timestamps, the exact frame rate and the decoding errors. Leaving the reader's `with` block early (an
exception, Ctrl-C, a caller that needs no more frames) kills ffmpeg.

A movie that ffmpeg decodes only in part (data cut off or corrupt after its index) gives the frames that
decode, and `report_warnings` says so; if no frame decodes at all, `check_decoded` raises InputError.
"""

from __future__ import annotations

import logging
import re
import subprocess
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import ffmpeg
import numpy as np

from framegen.core.errors import ExternalToolError, InputError
from framegen.core.files import check_regular_file
from framegen.core.media.ffmpeg import ffmpeg_binary, file_arg, last_error_line
from framegen.core.media.images import MAX_PIXELS, TOO_LARGE

log = logging.getLogger(__name__)

MIN_SIDE = 16  # smaller frames carry no usable motion; refused rather than blown up

_CONTAINER = re.compile(r"Input #0, (\S+), from ")
_VIDEO_LINE = re.compile(r"Stream #\d+:\d+.*?: Video: (?P<codec>\w+)(?P<rest>.*)")
_SIZE = re.compile(r",\s(\d+)x(\d+)\b")
_SAR = re.compile(r"\[?SAR (\d+):(\d+)")
_FPS = re.compile(r"([\d.]+)(k?) fps")
_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_START = re.compile(r"start: (-?\d+(?:\.\d+)?)")
_ROTATION = re.compile(r"display ?matrix: rotation of (-?[\d.]+) degrees", re.IGNORECASE)
_SHOWINFO_CONFIG = re.compile(r"config in time_base: (\d+)/(\d+), frame_rate: (\d+)/(\d+)")
_SHOWINFO_FRAME = re.compile(r"\bn:\s*\d+ pts:\s*(-?\d+) pts_time:")


@dataclass
class MovieInfo:
    """What `ffmpeg -i` says about the first video stream."""

    codec: str
    width: int  # stored size
    height: int
    display_width: int  # stored width after the sample aspect ratio (anamorphic video)
    fps: float | None  # as printed (rounded); the exact rational comes from the decode pass
    duration: float | None  # seconds
    start: Fraction  # the container's start time, seconds
    rotation: int = 0  # degrees counter-clockwise (0, 90, 180, 270) that ffmpeg turns the frames while decoding
    container: str = ""  # ffmpeg's input format: mov,mp4,..., matroska,webm, gif; png_pipe, image2: a still

    @property
    def still(self) -> bool:
        """One still image (PNG, JPEG, ...), which ffmpeg reads as a one-frame video."""
        return self.container == "image2" or self.container.endswith("_pipe")

    @property
    def turned(self) -> bool:
        """A quarter turn: the displayed frames are the stored ones on their side."""
        return self.rotation in (90, 270)

    def decoded_size(self) -> tuple[int, int]:
        """(width, height) of the frames ffmpeg decodes, after its rotation, before any scaling."""
        return (self.height, self.width) if self.turned else (self.width, self.height)

    def display_size(self) -> tuple[int, int]:
        """(width, height) as a player shows the movie: rotated, sample aspect ratio applied."""
        return (self.height, self.display_width) if self.turned else (self.display_width, self.height)


def probe_movie(movie: Path) -> MovieInfo:
    """Check that `movie` is a readable file with a video stream; refuse anything else with one line."""
    movie = Path(movie)
    check_regular_file(movie, "a movie file")
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
    if width * height > MAX_PIXELS:
        raise InputError(f"{movie}: frames are {width}x{height}, {TOO_LARGE}")
    sar = _SAR.search(video["rest"])
    sar_ratio = Fraction(int(sar[1]), int(sar[2])) if sar and int(sar[1]) > 0 and int(sar[2]) > 0 else Fraction(1)
    fps = _FPS.search(video["rest"])
    duration = _DURATION.search(text)
    start = _START.search(text)
    rotation = _stream_rotation(text.splitlines(), video.string)
    return MovieInfo(
        codec=video["codec"],
        width=width,
        height=height,
        display_width=max(MIN_SIDE, round(width * sar_ratio)),
        fps=float(fps[1]) * (1000 if fps[2] else 1) if fps else None,
        duration=int(duration[1]) * 3600 + int(duration[2]) * 60 + float(duration[3]) if duration else None,
        start=Fraction(start[1]) if start else Fraction(0),
        rotation=rotation,
        container=container[1] if (container := _CONTAINER.search(text)) else "",
    )


def _stream_rotation(lines: list[str], video_line: str) -> int:
    """The rotation in the display matrix of the video stream (its side data follows its `Stream` line),
    as the multiple of 90 degrees ffmpeg applies while decoding (phone videos: 90 or 270); 0 if none."""
    for line in lines[lines.index(video_line) + 1:]:
        if "Stream #" in line:
            break
        if rotation := _ROTATION.search(line):
            quarter_turns = round(float(rotation[1]) / 90)
            # ffmpeg turns only by multiples of 90 degrees (within one degree), other angles not at all
            return quarter_turns % 4 * 90 if abs(float(rotation[1]) - 90 * quarter_turns) < 1 else 0
    return 0


def _error_reason(ffmpeg_stderr: str) -> str:
    """The first error ffmpeg logged (with `-loglevel level+info`), e.g. "moov atom not found"."""
    for line in ffmpeg_stderr.splitlines():
        if "[error]" in line or "[fatal]" in line:
            return line.split("]")[-1].strip()
    return last_error_line(ffmpeg_stderr.encode())


def working_size(info: MovieInfo, max_side: int) -> tuple[int, int]:
    """(width, height) of the decoded frames: the display size (rotated, anamorphic video stretched),
    shrunk so its longest side is at most `max_side` (0 = no limit), aspect kept; even when scaled, as most
    codecs want for a later re-encode."""
    width, height = info.display_size()
    if max_side == 0 or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def decode_command(
    movie: Path, info: MovieInfo, size: tuple[int, int], start: float = 0.0, end: float | None = None, every: int = 1
) -> list[str]:
    """The one ffmpeg command: seek to `start`, trim at `end` (seconds), keep one frame in `every`, scale
    to `size`, report timestamps, raw RGB out."""
    source = ffmpeg.input(file_arg(movie), **({"ss": start} if start > 0 else {}))
    video = source["V:0"]  # first video stream that is not cover art
    if end is not None:  # with -copyts timestamps are the movie's own, offset by its start time
        video = video.filter("trim", end=float(info.start + Fraction(end)))
    if every > 1:
        video = video.filter("select", f"not(mod(n,{every}))")
    if size != info.decoded_size():  # ffmpeg has rotated the frames already (its default autorotate)
        video = video.filter("scale", *size)
    video = video.filter("showinfo", checksum=0)  # one log line per frame: its pts
    output = ffmpeg.output(video, "pipe:", format="rawvideo", pix_fmt="rgb24", fps_mode="passthrough")
    return [ffmpeg_binary(), "-hide_banner", "-nostdin", "-loglevel", "level+info", "-copyts", *output.get_args()]


class DecodeLog(threading.Thread):
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


class MovieReader:
    """One decode of `movie` at most `max_side` px large (0: its display size), from `start` to `end`
    seconds, one frame in `every`. Iterate it inside its `with` block: uint8 (H, W, 3) RGB frames, one at a
    time. After the block: `frames_read`, `frame_rate()`, `timestamps()`, `check_decoded()`,
    `report_warnings()`."""

    def __init__(self, movie: Path, info: MovieInfo, max_side: int = 0, start: float = 0.0,
                 end: float | None = None, every: int = 1):
        self.movie = Path(movie)
        self.info = info
        self.start, self.end, self.every = start, end, every
        self.size = working_size(info, max_side)  # (width, height) of the frames
        self.command = decode_command(self.movie, info, self.size, start, end, every)
        self.frames_read = 0
        self.process: subprocess.Popen | None = None
        self.log: DecodeLog | None = None

    def __enter__(self) -> "MovieReader":
        log.debug("ffmpeg command: " + " ".join(self.command))
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE)
        self.log = DecodeLog(self.process.stderr)
        self.log.start()
        return self

    def __iter__(self) -> Iterator[np.ndarray]:
        width, height = self.size
        frame_bytes = width * height * 3
        while len(data := self.process.stdout.read(frame_bytes)) == frame_bytes:  # a torn last frame is dropped
            self.frames_read += 1
            yield np.frombuffer(data, np.uint8).reshape(height, width, 3)  # uint8 (H, W, 3) RGB
        self.process.wait()
        self.log.join()

    def __exit__(self, *exc_info) -> None:
        if self.process.poll() is None:  # stopped early or interrupted: do not leave ffmpeg running
            self.process.kill()
            self.process.wait()
        self.log.join()
        self.process.stdout.close()
        self.process.stderr.close()

    def expected_frames(self) -> int | None:
        """About how many frames the decode gives (for a progress bar's total and the truncation check)."""
        if self.info.duration is None or not self.info.fps:
            return None
        end = self.info.duration if self.end is None else min(self.end, self.info.duration)
        return max(0, round((end - self.start) * self.info.fps / self.every))

    def problem(self) -> str:
        """What ffmpeg said went wrong: its first error, else its last line."""
        return self.log.errors[0] if self.log.errors else (self.log.last_line or "no message from ffmpeg")

    def check_decoded(self) -> None:
        """InputError unless at least one frame was read."""
        if self.frames_read == 0:
            raise InputError(f"{self.movie}: no frame could be decoded ({self.problem()})")

    def frame_rate(self) -> Fraction:
        """The stream's exact frame rate (from the decode; the probe's rounded one if ffmpeg gave none)."""
        fps = self.log.frame_rate or Fraction(self.info.fps or 0).limit_denominator(1001)
        if fps <= 0:
            raise InputError(f"{self.movie}: ffmpeg reports no frame rate for its video stream")
        return fps

    def timestamps(self) -> list[Fraction]:
        """Seconds from the start of the movie of every frame read."""
        if self.log.time_base is None or len(self.log.pts) != self.frames_read:
            raise ExternalToolError(f"ffmpeg reported {len(self.log.pts)} timestamps for {self.frames_read} frames")
        return [pts * self.log.time_base - self.info.start for pts in self.log.pts]

    def report_warnings(self) -> list[str]:
        """Decoding errors and a movie that looks truncated: printed on stderr, and returned."""
        warnings = []
        if self.log.errors:
            warnings.append(
                f"ffmpeg reported {len(self.log.errors)} decoding error(s), first: {self.log.errors[0]!r}; "
                "frames near the damage may be corrupt"
            )
        expected = self.expected_frames()
        if expected is not None and self.frames_read < 0.95 * expected - 1:
            warnings.append(
                f"decoded {self.frames_read} frames where the container announces about {expected}: "
                "the movie looks truncated; kept the frames that decoded"
            )
        for warning in warnings:
            log.warning(f"{self.movie}: {warning}")
        return warnings
