"""interpolate: in-between frames for two images (an animation) or for a whole movie (a higher frame rate).

Pair mode, `interpolate_pair`: image A, N in-betweens (t = k / (N + 1), or explicit times), image B ->
an animation file (core/animation.py) and, optionally, a folder of PNGs 000.png, 001.png, ... in time
order with A first and B last, each the inputs' size.

Video mode, `interpolate_video`: the movie is read twice, streaming (memory holds a few frames):
1. at analysis size, to find its scene cuts and held frames with the very detectors of `framegen filter`
   (core/scenes.py: cut scores against their neighbours, drawing changes, on twos/threes timing);
2. at full size, to interpolate. Output frame k shows source time s = k / factor (or k * fps_in / fps).
   The frames of a shot that are not held are its drawings; s between drawings i and j (same shot) is
   engine(i, j, t = (s - i) / (j - i)), so a drawing held on twos is interpolated over its two frames
   and never between the duplicates. After a shot's last drawing, and so across every cut, the drawing is
   repeated: nothing is ever morphed across a cut. Audio streams are copied (MP4 output).
"""

from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from framegen.core import console
from framegen.core.animation import animation_format, pingpong, with_channels, write_animation
from framegen.core.engines import Engine
from framegen.core.errors import InputError, UsageError
from framegen.core.extract import (
    ExtractConfig,
    MovieInfo,
    _read_exactly,
    _StderrReader,
    decode_command,
    probe_movie,
    working_size,
)
from framegen.core.images import read_image, write_png
from framegen.core.scenes import (
    ANALYSIS_SIDE,
    FilterConfig,
    adaptive_ratios,
    analysis_images,
    change_score,
    content_cuts,
    held_in_shot,
    shot_spans,
    shot_timing,
)
from framegen.core.workspace import stage_output

DEFAULT_IN_BETWEENS = 6  # with the two inputs, an 8-frame animation like the original's
DEFAULT_PAIR_FPS = 12.0


class InterpolateConfig(BaseModel):
    """Options of `framegen interpolate`."""

    model_config = ConfigDict(extra="forbid")

    engine: Literal["auto", "blend", "flow", "model"] = "auto"
    checkpoint: Path | None = None
    frames: int | None = Field(None, ge=1, le=1000)  # in-betweens of a pair [default: 6]
    times: list[float] | None = None  # explicit in-between times of a pair, in (0, 1)
    fps: float | None = Field(None, gt=0)  # pair: animation rate [12]; movie: the output rate
    factor: int | None = Field(None, ge=2, le=16)  # movie: output rate = factor x input rate [2]
    loop: int = Field(0, ge=0)  # plays, 0 = forever (GIF/WebP/APNG)
    pingpong: bool = False

    @field_validator("times")
    @classmethod
    def _inside_unit_interval(cls, times: list[float] | None) -> list[float] | None:
        if times is not None:
            if not times or not all(0.0 < t < 1.0 for t in times):
                raise ValueError("give times strictly between 0 and 1, e.g. 0.25,0.5,0.75")
            times = sorted(set(times))
        return times

    @model_validator(mode="after")
    def _one_way_to_say_it(self) -> "InterpolateConfig":
        if self.frames is not None and self.times is not None:
            raise ValueError("give --frames or --times, not both")
        if self.factor is not None and self.fps is not None:
            raise ValueError("give --factor or --fps, not both")
        return self

    def pair_times(self) -> list[float]:
        if self.times is not None:
            return self.times
        n = self.frames if self.frames is not None else DEFAULT_IN_BETWEENS
        return [k / (n + 1) for k in range(1, n + 1)]


# ---------------------------------------------------------------------------------------------- pairs


def read_pair(path_a: Path, path_b: Path) -> tuple[np.ndarray, np.ndarray]:
    """Both images, uint8 RGB or RGBA (RGBA when either has alpha); InputError unless the sizes match."""
    a, b = read_image(path_a), read_image(path_b)
    if a.shape[:2] != b.shape[:2]:
        raise InputError(f"{path_a} is {a.shape[1]}x{a.shape[0]} but {path_b} is {b.shape[1]}x{b.shape[0]}; "
                         "the two images must have the same size")
    channels = max(a.shape[2], b.shape[2])  # one has alpha: the other gets an opaque alpha channel
    return with_channels(a, channels), with_channels(b, channels)


def interpolate_pair(path_a: Path, path_b: Path, output: Path, engine: Engine, config: InterpolateConfig,
                     frames_dir: Path | None = None, overwrite: bool = False) -> list[np.ndarray]:
    """Write the animation A, in-betweens, B to `output` (and the PNGs to `frames_dir`); return its frames."""
    if config.factor is not None:
        raise UsageError("--factor is for a movie; for two images use --frames or --times")
    animation_format(output)  # refuse an unknown format before any work
    image_a, image_b = read_pair(path_a, path_b)
    frames = [image_a, *engine.interpolate(image_a, image_b, config.pair_times()), image_b]
    if frames_dir is not None:
        digits = max(3, len(str(len(frames) - 1)))  # 000.png ... so that name order is time order
        with stage_output(frames_dir, "interpolate", overwrite):
            for index, frame in enumerate(frames):
                write_png(frames_dir / f"{index:0{digits}d}.png", frame)
    sequence = pingpong(frames) if config.pingpong else frames
    write_animation(output, sequence, config.fps or DEFAULT_PAIR_FPS, config.loop)
    return frames


# ---------------------------------------------------------------------------------------------- movies


@dataclass
class Segment:
    """Output frames between drawing `first` and drawing `last` (None: repeat `first`), at `times` in [0, 1)."""

    first: int
    last: int | None
    times: list[float]


@dataclass
class VideoResult:
    input_frames: int
    output_frames: int
    input_fps: Fraction
    output_fps: Fraction
    cuts: list[int]  # frame positions that start a shot
    held: int  # frames that repeat the previous drawing


def interpolate_video(movie: Path, output: Path, engine: Engine, config: InterpolateConfig) -> VideoResult:
    """Write `movie` at a higher frame rate to `output` (see the module docstring)."""
    if config.frames is not None or config.times is not None:
        raise UsageError("--frames and --times are for two images; for a movie use --factor or --fps")
    if config.pingpong:
        raise UsageError("--pingpong is for two images, not for a movie")
    kind = animation_format(output)
    info = probe_movie(movie)
    console.log(f"analysing {movie.name}: scene cuts and held frames")
    cuts, drawings, input_fps = analyse_movie(movie, info)
    n = len(drawings)
    if config.fps is not None:
        output_fps = Fraction(config.fps).limit_denominator(1001)
    else:
        output_fps = input_fps * (config.factor or 2)
    count = max(1, math.floor(n * output_fps / input_fps))
    segments = plan_segments(drawings, cuts, [k * input_fps / output_fps for k in range(count)])
    with console.progress(unit="frames") as bar:
        task = bar.add_task("interpolate", total=count)
        frames = render(segments, iter(MovieFrames(movie, info, 0)), engine, lambda: bar.advance(task))
        written = write_animation(output, frames, float(output_fps), config.loop,
                                  audio_from=movie if kind == "mp4" else None)
    return VideoResult(input_frames=n, output_frames=written, input_fps=input_fps, output_fps=output_fps,
                       cuts=cuts, held=n - int(np.count_nonzero(drawings)))


def analyse_movie(movie: Path, info: MovieInfo) -> tuple[list[int], np.ndarray, Fraction]:
    """(cut positions, drawings: bool per frame (False = held), exact frame rate), from one small decode."""
    config = FilterConfig()
    scores, changes = [], []
    previous = None
    frames = MovieFrames(movie, info, ANALYSIS_SIDE)
    for frame in frames:
        thumb, work, _ = analysis_images(frame)
        scores.append(0.0 if previous is None else float(cv2.absdiff(thumb, previous[0]).mean()))
        changes.append(0.0 if previous is None else change_score(work, previous[1]))
        previous = (thumb, work)
    reader = frames.reader
    if previous is None:
        raise InputError(f"{movie}: no frame could be decoded ({reader_problem(reader)})")
    if reader.errors:
        console.log(f"[yellow]warning:[/yellow] {movie}: ffmpeg reported decoding errors ({reader.errors[-1]}); "
                    "using the frames that decoded")
    fps = reader.frame_rate or Fraction(info.fps or 0).limit_denominator(1001)
    if fps <= 0:
        raise InputError(f"{movie}: ffmpeg reports no frame rate for its video stream")
    cut_scores = np.array(scores, np.float32)
    cuts = content_cuts(cut_scores, adaptive_ratios(cut_scores, config.ratio_window), config)
    moved = np.array(changes, np.float32) >= config.hold_threshold
    drawings = np.ones(len(scores), bool)
    for start, end in shot_spans(cuts, len(scores)):
        held = held_in_shot(moved[start:end], shot_timing(moved[start:end]))
        drawings[[start + p for p in held]] = False
    return cuts, drawings, fps


def plan_segments(drawings: np.ndarray, cuts: list[int], source_times: list[Fraction]) -> list[Segment]:
    """Group the output frames (at `source_times`, in frame positions) by the pair of drawings they lie between."""
    n = len(drawings)
    shot_end = np.empty(n, np.int64)  # first position of the next shot
    for start, end in shot_spans(cuts, n):
        shot_end[start:end] = end
    segments: list[Segment] = []
    for s in source_times:
        position = min(int(s), n - 1)
        first = position
        while not drawings[first]:  # back to the drawing this held frame repeats (a shot starts with one)
            first -= 1
        last = next((p for p in range(position + 1, shot_end[position]) if drawings[p]), None)
        t = 0.0 if last is None else float((s - first) / (last - first))
        if segments and segments[-1].first == first and segments[-1].last == last:
            segments[-1].times.append(t)
        else:
            segments.append(Segment(first, last, [t]))
    return segments


def render(segments: list[Segment], frames: Iterator[np.ndarray], engine: Engine, advance) -> Iterator[np.ndarray]:
    """The output frames of `segments`, reading the movie's frames once, in order (two kept at a time)."""
    decoded: dict[int, np.ndarray] = {}  # the frames read and still needed
    position = -1

    def frame_at(p: int) -> np.ndarray:
        nonlocal position
        while position < p:
            frame = next(frames, None)
            if frame is None:
                raise InputError(f"the movie ended at frame {position + 1}, before frame {p} (truncated?)")
            position += 1
            decoded[position] = frame
        return decoded[p]

    for segment in segments:
        first = frame_at(segment.first)
        last = frame_at(segment.last) if segment.last is not None else None
        for p in [p for p in decoded if p < segment.first]:
            del decoded[p]
        between = [t for t in segment.times if t > 0.0]
        made = iter(engine.interpolate(first, last, between)) if between else iter(())
        for t in segment.times:
            yield first if t == 0.0 else next(made)
            advance()


class MovieFrames:
    """The frames of `movie`, uint8 (H, W, 3) RGB, decoded by extract's ffmpeg command at most `max_side`
    px large (0: the display size), one at a time. After iterating, `reader` holds what ffmpeg said on
    stderr: the exact frame rate and any decoding errors."""

    def __init__(self, movie: Path, info: MovieInfo, max_side: int):
        self.size = working_size(info, max_side)
        self.command = decode_command(movie, info, ExtractConfig(max_side=max_side), self.size)
        self.reader: _StderrReader | None = None

    def __iter__(self) -> Iterator[np.ndarray]:
        width, height = self.size
        process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        self.reader = _StderrReader(process.stderr)
        self.reader.start()
        try:
            while (data := _read_exactly(process.stdout, width * height * 3)) is not None:
                yield np.frombuffer(data, np.uint8).reshape(height, width, 3)
            process.wait()
        finally:
            if process.poll() is None:  # stopped early: do not leave ffmpeg running
                process.kill()
                process.wait()
            self.reader.join()
            process.stdout.close()
            process.stderr.close()


def reader_problem(reader: _StderrReader) -> str:
    return reader.errors[-1] if reader.errors else reader.last_line or "no message"
