"""interpolate: in-between frames for two images (an animation) or for a whole movie (a higher frame rate).

What the inputs are is read from their content, not their names (`input_mode`): two still images are a
pair; one file that is not a still image is a movie (ffmpeg reads it; an animated GIF/APNG/WebP alone too);
one still image alone is a usage error, and an animated image as one of a pair is refused (it has no one
picture to start or end from). The output may not be one of the inputs.

Pair mode, `interpolate_pair`: image A, N in-betweens (t = k / (N + 1), or explicit times), image B ->
an animation file (core/media/animation.py) and, optionally, a folder of PNGs 000.png, 001.png, ... in time
order with A first and B last, each the inputs' size.

Memory: frames stream. The engine makes one in-between at a time (engines.Engine.frames), which goes to
the PNG folder and to the encoder's pipe before the next is made (`--pingpong` spools them to a temporary
file to play them back backwards), so memory does not grow with the number of frames. Before any work,
the engine's estimate for the frame size plus what the pipeline holds (`check_memory`) is compared with
the memory available (MemAvailable, or FRAMEGEN_MEMORY_MB when set): an engine that can tiles sooner to
fit, and what cannot fit is refused with the numbers. The animation's format limits (its size, --loop)
are checked before the work as well.

Video mode, `interpolate_video`: the movie is read twice, streaming (memory holds a few frames):
1. at analysis size, to find its scene cuts and held frames with the very detectors of `framegen filter`
   and the user's FilterConfig (core/scenes.py: cut scores against their neighbours, drawing changes,
   on twos/threes timing; the content detector only, as vgg16 places a cut only to within 8 frames);
2. at full size, to interpolate. Output frame k shows source time s = k / factor (or k * fps_in / fps).
   The frames of a shot that are not held are its drawings; s between drawings i and j (same shot) is
   engine(i, j, t = (s - i) / (j - i)), so a drawing held on twos is interpolated over its two frames
   and never between the duplicates. After a shot's last drawing, and so across every cut, the drawing is
   repeated: nothing is ever morphed across a cut. Audio streams are copied (MP4 output).
`--start`/`--end` take a part of the movie, as in `framegen extract` (its audio too). The output rate is
at most MAX_FACTOR times the movie's.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
import os
import time
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from framegen.core.engines import ENGINE_NAMES, Engine, get_engine, refuse_weights_as_engine
from framegen.core.errors import InputError, UsageError
from framegen.core.media.animation import Audio, check_animation, is_animation_file, pingpong_frames, write_animation
from framegen.core.media.images import NotAnImageError, open_image, read_image, with_channels, write_png
from framegen.core.media.movie import MovieInfo, MovieReader, probe_movie
from framegen.core.progress import progress, rough_duration
from framegen.core.resources import available_memory
from framegen.core.scenes import FilterConfig, analyse_movie, shot_spans
from framegen.core.training.adapt_config import AdaptConfig
from framegen.core.workspace import check_output_file, stage_output

if TYPE_CHECKING:  # torch: imported where a network runs, so blend and flow start without it
    from framegen.core.engines.model import ModelEngine
    from framegen.core.training.adapt import AdaptReport, CropPool, ShotAdapter

log = logging.getLogger(__name__)

DEFAULT_IN_BETWEENS = 6  # with the two inputs, an 8-frame animation like the original's
DEFAULT_PAIR_FPS = 12.0
MAX_IN_BETWEENS = 1000  # --frames, and the number of --times
DEFAULT_FACTOR = 2
MAX_FACTOR = 16  # video mode: --factor, and --fps at most this many times the movie's rate
# What the pipeline holds beside the engine, bytes per pixel x channel: the two inputs, the frame being
# written as PNG and piped, its PNG encoding, the movie's decoded frames in video mode (about 6 uint8 frames).
PIPELINE_BYTES = 6
# ffmpeg's encoder (its own process): ENCODER_BASE plus bytes per pixel, calibrated on its peak RSS
# (2026-12-01, bench/bench_interpolate_memory.py): 1920x1080 x 122 frames, libx264 491 MB (its lookahead holds about 40 frames), GIF 238 MB;
# 4000x3000 x 4 frames, GIF 474 MB. WebP and APNG taken as GIF.
ENCODER_BASE = 100 * 2**20
ENCODER_BYTES = {"gif": 70, "webp": 70, "apng": 70, "mp4": 190}


class InterpolateConfig(BaseModel):
    """Options of `framegen interpolate`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    engine: Literal[ENGINE_NAMES] = "auto"
    checkpoint: Path | None = None  # an export or run folder, or installed weights NAME (engines.get_engine)
    device: Literal["auto", "cpu", "cuda"] = "auto"  # where the model engine runs
    frames: int | None = Field(None, ge=1, le=MAX_IN_BETWEENS)  # in-betweens of a pair [default: 6]
    times: list[float] | None = None  # explicit in-between times of a pair, in (0, 1)
    fps: float | None = Field(None, gt=0, le=1000)  # pair: animation rate [12]; movie: the output rate
    factor: int | None = Field(None, ge=2, le=MAX_FACTOR)  # movie: output rate = factor x input rate [2]
    start: float = Field(0.0, ge=0.0, le=10**7)  # movie: seconds from its start
    end: float | None = Field(None, gt=0.0, le=10**7)  # movie: seconds; None = to its end
    loop: int = Field(0, ge=0)  # plays, 0 = forever (GIF/WebP/APNG)
    pingpong: bool = False
    filter: FilterConfig = Field(default_factory=FilterConfig)  # movie: the cut and held-frame detectors
    ensemble: bool = False  # the model engine averages three passes per frame (engines/model.py)
    adapt: bool = False  # movie: the network adapts to each shot before interpolating it (training/adapt.py)
    adaptation: AdaptConfig = Field(default_factory=AdaptConfig)

    _engine_not_weights = field_validator("engine", mode="before")(refuse_weights_as_engine)

    @field_validator("times")
    @classmethod
    def _inside_unit_interval(cls, times: list[float] | None) -> list[float] | None:
        if times is not None:
            if not times or not all(0.0 < t < 1.0 for t in times):
                raise ValueError("give times strictly between 0 and 1, e.g. 0.25,0.5,0.75")
            times = sorted(set(times))
            if len(times) > MAX_IN_BETWEENS:
                raise ValueError(f"{len(times)} times: at most {MAX_IN_BETWEENS} in-betweens, as with --frames")
        return times

    @model_validator(mode="after")
    def _one_way_to_say_it(self) -> "InterpolateConfig":
        if self.frames is not None and self.times is not None:
            raise ValueError("give --frames or --times, not both")
        if self.factor is not None and self.fps is not None:
            raise ValueError("give --factor or --fps, not both")
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end}) must come after start ({self.start})")
        return self

    def pair_times(self) -> list[float]:
        if self.times is not None:
            return self.times
        n = self.frames if self.frames is not None else DEFAULT_IN_BETWEENS
        return [k / (n + 1) for k in range(1, n + 1)]


# ---------------------------------------------------------------------------------------------- inputs


def input_kind(path: Path) -> str:
    """`image` (a still picture), `animated` (an animated GIF, APNG or WebP) or `movie` (anything else,
    left to ffmpeg), from the file's content: what Pillow recognises from its header is a picture."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected an image file (or one movie)")
    try:
        with open_image(path) as image:
            return "animated" if getattr(image, "is_animated", False) else "image"
    except NotAnImageError:
        return "movie"


def input_mode(inputs: list[Path]) -> str:
    """`pair` (two still images) or `video` (one movie); UsageError for one still image alone or a wrong count,
    InputError for an animated image or a non-image in a pair."""
    if len(inputs) == 1:
        if input_kind(inputs[0]) == "image":
            raise UsageError(f"{inputs[0]} is one image: give two images A B to animate between them "
                             "(or one movie to raise its frame rate)")
        return "video"
    if len(inputs) != 2:
        raise UsageError(f"give two images (A B) or one movie, not {len(inputs)} files")
    for path in inputs:
        kind = input_kind(path)
        if kind == "animated":
            raise InputError(f"{path}: an animated image; interpolate takes two still images (save the frame you "
                             "want as a PNG), or an animation alone, which it treats as a movie")
        if kind == "movie":
            raise InputError(f"{path}: not a readable still image; interpolate takes two images (PNG, JPEG, ...), "
                             "or one movie alone")
    return "pair"


def memory_budget() -> int | None:
    """Bytes interpolate may use: FRAMEGEN_MEMORY_MB when set, else MemAvailable (Linux); None when unknown."""
    setting = os.environ.get("FRAMEGEN_MEMORY_MB")
    if setting:
        try:
            return int(float(setting) * 2**20)
        except ValueError:
            raise UsageError(f"FRAMEGEN_MEMORY_MB={setting!r}: expected a number of megabytes") from None
    return available_memory()


def check_memory(engine: Engine, height: int, width: int, channels: int, kind: str,
                 adapting: AdaptConfig | None = None) -> None:
    """Refuse (InputError) frames that would not fit in the memory budget, before the work; the engine first
    adapts to it where it can (Engine.fit_memory: the model engine tiles sooner). `adapting`: the network also
    adapts to each shot, with these settings (its steps, pool and the second decode)."""
    budget = memory_budget()
    if budget is None:
        return
    pipeline = height * width * (PIPELINE_BYTES * channels + ENCODER_BYTES[kind]) + ENCODER_BASE
    if adapting is not None:
        from framegen.core.training.adapt import ADAPT_FRAMES, adaptation_memory

        pipeline += adaptation_memory(adapting, engine.generator, engine.info.arch) + ADAPT_FRAMES * height * width * channels
    needed = pipeline + engine.fit_memory(height, width, channels, budget - pipeline)
    log.debug(f"memory: about {needed / 2**20:.0f} MB for {width}x{height} frames ({engine.name} engine); "
                  f"{budget / 2**20:.0f} MB available")
    if needed > budget:
        scale = math.sqrt(budget / needed)
        raise InputError(f"{width}x{height} frames need about {needed / 2**30:.1f} GB with the {engine.name} engine "
                         f"and a .{kind} output, but {budget / 2**30:.1f} GB is available; scale the inputs down "
                         f"(to about {int(width * scale)}x{int(height * scale)}) or free memory")


# ---------------------------------------------------------------------------------------------- pairs


@dataclass
class PairResult:
    frames: int  # A, the in-betweens, B
    width: int
    height: int
    channels: int  # 3 RGB, 4 RGBA


def header_size(path: Path) -> tuple[int, int, int]:
    """(width, height, channels: 4 when it may have alpha, else 3) from the image's header, without decoding;
    InputError above images.MAX_PIXELS (images.open_image)."""
    with open_image(path) as image:
        width, height = image.size
        alpha = "A" in image.mode or "transparency" in image.info
    return width, height, 4 if alpha else 3


def read_pair(path_a: Path, path_b: Path) -> tuple[np.ndarray, np.ndarray]:
    """Both images, uint8 RGB or RGBA (RGBA when either has alpha); InputError unless the sizes match."""
    a, b = read_image(path_a), read_image(path_b)
    if a.shape[:2] != b.shape[:2]:
        raise InputError(f"{path_a} is {a.shape[1]}x{a.shape[0]} but {path_b} is {b.shape[1]}x{b.shape[0]}; "
                         "the two images must have the same size")
    channels = max(a.shape[2], b.shape[2])  # one has alpha: the other gets an opaque alpha channel
    return with_channels(a, channels), with_channels(b, channels)


def use_ensemble(engine: Engine, config: InterpolateConfig) -> None:
    """`ensemble`: the model engine averages three passes per frame; any other engine is a usage error."""
    if engine.name == "model":
        engine.ensemble = config.ensemble
    elif config.ensemble:
        raise UsageError(f"--ensemble is for the model engine, not {engine.name}")


def interpolate_pair(path_a: Path, path_b: Path, output: Path, engine: Engine, config: InterpolateConfig,
                     frames_dir: Path | None = None, overwrite: bool = False) -> PairResult:
    """Write the animation A, in-betweens, B to `output` (and the PNGs to `frames_dir`), streaming."""
    use_ensemble(engine, config)
    if config.factor is not None:
        raise UsageError("--factor is for a movie; for two images use --frames or --times")
    if config.start != 0.0 or config.end is not None:
        raise UsageError("--start and --end are for a movie, not for two images")
    check_output_file(output, [path_a, path_b], overwrite, is_animation_file)
    if frames_dir is not None and Path(output).resolve().parent == Path(frames_dir).resolve():
        raise UsageError(f"{output}: inside --frames-dir {frames_dir}; write the animation beside that folder")
    sizes = [header_size(path) for path in (path_a, path_b)]  # before decoding: the checks come first
    width, height = max(w for w, _, _ in sizes), max(h for _, h, _ in sizes)
    kind = check_animation(output, width, height, config.loop)
    check_memory(engine, height, width, max(c for _, _, c in sizes), kind)
    image_a, image_b = read_pair(path_a, path_b)
    times = config.pair_times()
    count = len(times) + 2
    frames = itertools.chain([image_a], engine.frames(image_a, image_b, times), [image_b])
    folder = stage_output(frames_dir, "interpolate", overwrite, inputs=[path_a, path_b]) if frames_dir else nullcontext()
    with folder:
        if frames_dir is not None:
            frames = written_as_png(frames, frames_dir, count)
        write_animation(output, pingpong_frames(frames) if config.pingpong else frames,
                        config.fps or DEFAULT_PAIR_FPS, config.loop)
    h, w, channels = image_a.shape
    return PairResult(count, w, h, channels)


def written_as_png(frames: Iterable[np.ndarray], folder: Path, count: int) -> Iterator[np.ndarray]:
    """Pass `frames` on, each written first as folder/000.png, 001.png, ... (name order is time order)."""
    digits = max(3, len(str(count - 1)))
    for index, frame in enumerate(frames):
        write_png(folder / f"{index:0{digits}d}.png", frame)
        yield frame


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
    adaptation: list[AdaptReport]  # one per shot with --adapt, else empty


def interpolate_video(movie: Path, output: Path, engine: Engine, config: InterpolateConfig,
                      overwrite: bool = False) -> VideoResult:
    """Write `movie` at a higher frame rate to `output` (see the module docstring)."""
    use_ensemble(engine, config)
    if config.frames is not None or config.times is not None:
        raise UsageError("--frames and --times are for two images; for a movie use --factor or --fps")
    if config.pingpong:
        raise UsageError("--pingpong is for two images, not for a movie")
    if config.filter.detector != "content":  # vgg16 places a cut only to within its 8-frame window
        raise UsageError(f"--detector {config.filter.detector} is for `framegen filter` only; video mode needs "
                         "the content detector, which finds a cut to the frame")
    check_output_file(output, [movie], overwrite, is_animation_file)
    info = probe_movie(movie)
    kind = check_animation(output, info.display_width, info.height, config.loop)
    if config.fps is not None and info.fps:
        check_rate(Fraction(config.fps), Fraction(info.fps))  # the probe's rate: refused before any decoding
    adapter = shot_adapter(engine, config)
    check_memory(engine, info.height, info.display_width, 3, kind, adapting=config.adaptation if adapter else None)
    log.info(f"analysing {movie.name}: scene cuts and held frames")
    movie_scenes = analyse_movie(movie, info, config.filter, config.start, config.end)
    cuts, drawings, input_fps = movie_scenes.cuts, movie_scenes.drawings, movie_scenes.fps
    n = len(drawings)
    if config.fps is not None:
        output_fps = Fraction(config.fps).limit_denominator(1001)
        check_rate(output_fps, input_fps)
    else:
        output_fps = input_fps * (config.factor or DEFAULT_FACTOR)
    count = max(1, math.floor(n * output_fps / input_fps))
    def source_times() -> Iterator[Fraction]:  # output frame k shows this source position; never held whole
        return (k * input_fps / output_fps for k in range(count))

    if engine.name == "model":
        state_cost(engine, movie, info, config, plan_segments(drawings, cuts, source_times()))
    segments = plan_segments(drawings, cuts, source_times())
    # the sound stops with the pictures: a variable-rate movie's frames, played at one rate, may last less
    audio_end = config.start + float(count / output_fps)
    audio = Audio(movie, config.start, min(config.end or audio_end, audio_end)) if kind == "mp4" else None
    reports: list[AdaptReport] = []
    with progress(unit="frames") as bar, MovieReader(movie, info, 0, config.start, config.end) as source, \
            MovieReader(movie, info, 0, config.start, config.end) if adapter else nullcontext() as ahead:
        task = bar.add_task("interpolate", total=count)
        if adapter is not None:
            from framegen.core.training.adapt import shot_pools

            shots = movie_scenes.shots()
            pools = shot_pools(iter(ahead), movie_scenes, config.adaptation)
            adapt_task = bar.add_task("adapt", total=len(shots), unit="shots")
            segments = adapted_segments(segments, shots, adapter, pools,
                                        lambda report: (reports.append(report), bar.advance(adapt_task)))
        frames = render(segments, iter(source), engine, lambda: bar.advance(task))
        written = write_animation(output, frames, float(output_fps), config.loop, audio=audio)
    return VideoResult(input_frames=n, output_frames=written, input_fps=input_fps, output_fps=output_fps,
                       cuts=cuts, held=n - int(np.count_nonzero(drawings)), adaptation=reports)


def state_cost(engine: ModelEngine, movie: Path, info: MovieInfo, config: InterpolateConfig,
               segments: Iterable[Segment]) -> None:
    """One line before the work: how long the network will take for the in-betweens of `segments`, and flow
    for comparison, both timed on the first segment that has in-betweens (the network works per pixel, so
    its speed on one pair of the movie is its speed on all)."""
    new_frames, first = 0, None
    for segment in segments:
        between = [t for t in segment.times if t > 0.0]
        new_frames += len(between)
        if first is None and between:
            first = Segment(segment.first, segment.last, between)
    if first is None:
        return
    with MovieReader(movie, info, 0, config.start, config.end) as reader:
        pair = [frame for position, frame in zip(range(first.last + 1), reader)
                if position in (first.first, first.last)]
    if len(pair) < 2:
        return  # the movie ends early: render says so
    network = seconds_per_frame(engine, *pair, first.times) * new_frames
    flow = seconds_per_frame(get_engine("flow"), *pair, first.times) * new_frames
    name = engine.info.arch if engine.info is not None else "the network"
    where = "CPU" if engine.device.type == "cpu" else "GPU"
    adapting = "; adapting to each shot comes on top" if config.adapt else ""
    log.info(f"{name} on {info.display_width}x{info.height}: about {rough_duration(network)} for {new_frames:,} new "
             f"frames on this {where} (flow: about {rough_duration(flow)}){adapting}")


def seconds_per_frame(engine: Engine, image0: np.ndarray, image1: np.ndarray, times: list[float]) -> float:
    """Seconds one in-between of this pair takes with `engine`: the faster of two runs, as the first pays for
    one-time set-up (memory, kernel choice), unless the first alone took over a second."""
    best = math.inf
    for _ in range(2):
        started = time.perf_counter()
        engine.interpolate(image0, image1, times)
        best = min(best, time.perf_counter() - started)
        if best > 1.0:
            break
    return best / len(times)


def shot_adapter(engine: Engine, config: InterpolateConfig) -> ShotAdapter | None:
    """The adapter of `engine`'s network with --adapt (UsageError when it has none that adapts), else None."""
    if not config.adapt:
        return None
    from framegen.core.training.adapt import ShotAdapter
    from framegen.core.training.cycle import CYCLE_ARCHS

    arch = engine.info.arch if engine.name == "model" and engine.info is not None else None
    if arch not in CYCLE_ARCHS:
        what = f"the {arch} network" if arch else f"the {engine.name} engine, which has no network,"
        raise UsageError(f"--adapt needs a network that adapts ({', '.join(CYCLE_ARCHS)}); {what} cannot: "
                         "use --engine model --checkpoint rife4")
    return ShotAdapter(engine.generator, config.adaptation, engine.device)


def adapted_segments(segments: Iterable[Segment], shots: list[tuple[int, int]], adapter: ShotAdapter,
                     pools: Iterator[tuple[CropPool | None, int]], on_adapted) -> Iterator[Segment]:
    """Pass `segments` on with the network adapted to the shot each one lies in: before a shot's first segment
    the previous shot's adaptation is undone and the network adapts to the new shot's pool."""
    starts = [start for start, _ in shots]
    with ExitStack() as adaptation:
        current = -1
        for segment in segments:
            shot = bisect.bisect_right(starts, segment.first) - 1
            while current < shot:
                adaptation.close()  # the original weights back
                current += 1
                pool, count = next(pools)
                report = adaptation.enter_context(adapter.adapted(pool, count))
                log.debug(f"shot {current + 1}: {report.summary()}")
                on_adapted(report)
            yield segment


def check_rate(output_fps: Fraction, input_fps: Fraction) -> None:
    if output_fps > MAX_FACTOR * input_fps:
        raise UsageError(f"--fps {float(output_fps):g} is {float(output_fps / input_fps):.1f}x the movie's "
                         f"{float(input_fps):g} fps; video mode makes at most {MAX_FACTOR}x its rate")


def plan_segments(drawings: np.ndarray, cuts: list[int], source_times: Iterable[Fraction]) -> Iterator[Segment]:
    """Group the output frames (at `source_times`, in frame positions, ascending) by the pair of drawings they
    lie between; each segment is yielded once complete, so a long movie's plan is never held whole."""
    n = len(drawings)
    shot_end = np.empty(n, np.int64)  # first position of the next shot
    for start, end in shot_spans(cuts, n):
        shot_end[start:end] = end
    segment: Segment | None = None
    for s in source_times:
        position = min(int(s), n - 1)
        first = position
        while not drawings[first]:  # back to the drawing this held frame repeats (a shot starts with one)
            first -= 1
        last = next((p for p in range(position + 1, shot_end[position]) if drawings[p]), None)
        t = 0.0 if last is None else float((s - first) / (last - first))
        if segment is not None and segment.first == first and segment.last == last:
            segment.times.append(t)
            continue
        if segment is not None:
            yield segment
        segment = Segment(first, last, [t])
    if segment is not None:
        yield segment


def render(segments: Iterable[Segment], frames: Iterator[np.ndarray], engine: Engine, advance) -> Iterator[np.ndarray]:
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
        made = engine.frames(first, last, between) if between else iter(())  # one in-between at a time
        for t in segment.times:
            yield first if t == 0.0 else next(made)
            advance()
