"""interpolate: in-between frames for two images (an animation) or for a whole movie (a higher frame rate).

Pair mode, `interpolate_pair`: image A, N in-betweens (t = k / (N + 1), or explicit times), image B ->
an animation file (core/animation.py) and, optionally, a folder of PNGs 000.png, 001.png, ... in time
order with A first and B last, each the inputs' size.

Video mode, `interpolate_video`: the movie is read twice, streaming (memory holds a few frames):
1. at analysis size, to find its scene cuts and held frames with the very detectors of `framegen filter`
   and the user's FilterConfig (core/scenes.py: cut scores against their neighbours, drawing changes,
   on twos/threes timing; the content detector only, as vgg16 places a cut only to within 8 frames);
2. at full size, to interpolate. Output frame k shows source time s = k / factor (or k * fps_in / fps).
   The frames of a shot that are not held are its drawings; s between drawings i and j (same shot) is
   engine(i, j, t = (s - i) / (j - i)), so a drawing held on twos is interpolated over its two frames
   and never between the duplicates. After a shot's last drawing, and so across every cut, the drawing is
   repeated: nothing is ever morphed across a cut. Audio streams are copied (MP4 output).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from framegen.core import console
from framegen.core.animation import animation_format, pingpong, with_channels, write_animation
from framegen.core.engines import ENGINE_NAMES, Engine
from framegen.core.errors import InputError, UsageError
from framegen.core.images import read_image, write_png
from framegen.core.movie import MovieInfo, MovieReader, probe_movie
from framegen.core.scenes import ANALYSIS_SIDE, AnalysisFrame, FilterConfig, SceneDetector, shot_spans
from framegen.core.workspace import stage_output

DEFAULT_IN_BETWEENS = 6  # with the two inputs, an 8-frame animation like the original's
DEFAULT_PAIR_FPS = 12.0


class InterpolateConfig(BaseModel):
    """Options of `framegen interpolate`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    engine: Literal[ENGINE_NAMES] = "auto"
    checkpoint: Path | None = None  # an export or run folder, or installed weights NAME (engines.get_engine)
    device: Literal["auto", "cpu", "cuda"] = "auto"  # where the model engine runs
    frames: int | None = Field(None, ge=1, le=1000)  # in-betweens of a pair [default: 6]
    times: list[float] | None = None  # explicit in-between times of a pair, in (0, 1)
    fps: float | None = Field(None, gt=0, le=1000)  # pair: animation rate [12]; movie: the output rate
    factor: int | None = Field(None, ge=2, le=16)  # movie: output rate = factor x input rate [2]
    loop: int = Field(0, ge=0, le=65535)  # plays, 0 = forever (GIF/WebP/APNG)
    pingpong: bool = False
    filter: FilterConfig = Field(default_factory=FilterConfig)  # movie: the cut and held-frame detectors

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
    if config.filter.detector != "content":  # vgg16 places a cut only to within its 8-frame window
        raise UsageError(f"--detector {config.filter.detector} is for `framegen filter` only; video mode needs "
                         "the content detector, which finds a cut to the frame")
    kind = animation_format(output)
    info = probe_movie(movie)
    console.log(f"analysing {movie.name}: scene cuts and held frames")
    cuts, drawings, input_fps = analyse_movie(movie, info, config.filter)
    n = len(drawings)
    if config.fps is not None:
        output_fps = Fraction(config.fps).limit_denominator(1001)
    else:
        output_fps = input_fps * (config.factor or 2)
    count = max(1, math.floor(n * output_fps / input_fps))
    segments = plan_segments(drawings, cuts, [k * input_fps / output_fps for k in range(count)])
    with console.progress(unit="frames") as bar, MovieReader(movie, info) as source:
        task = bar.add_task("interpolate", total=count)
        frames = render(segments, iter(source), engine, lambda: bar.advance(task))
        written = write_animation(output, frames, float(output_fps), config.loop,
                                  audio_from=movie if kind == "mp4" else None)
    return VideoResult(input_frames=n, output_frames=written, input_fps=input_fps, output_fps=output_fps,
                       cuts=cuts, held=n - int(np.count_nonzero(drawings)))


def analyse_movie(movie: Path, info: MovieInfo, config: FilterConfig) -> tuple[list[int], np.ndarray, Fraction]:
    """(cut positions, drawings: bool per frame (False = held), exact frame rate), from one small decode
    fed to the detectors of `framegen filter` with `config`."""
    detector = SceneDetector(config)
    with MovieReader(movie, info, ANALYSIS_SIDE) as frames:
        detector.process_frames(map(AnalysisFrame.of, frames), frames.expected_frames(), "analyse")
    frames.check_decoded()
    frames.report_warnings()
    fps = frames.frame_rate()
    scenes = detector.post_process()
    drawings = np.ones(frames.frames_read, bool)
    drawings[scenes.held] = False
    return scenes.cuts, drawings, fps


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
