"""Scene detection: cuts, shots and held frames of a stream of frames (filter's and video mode's detectors).

The detectors are small stateful objects fed one frame at a time (PySceneDetect's `process_frame` /
`post_process`): `SceneDetector` runs them on a frames folder (stages/filter.py) and on the decode pipe of
`interpolate`'s video mode (stages/interpolate.py), with the same FilterConfig.

Cuts, default detector `content` (no model weights, a few ms a frame): the cut score of a frame is the
mean absolute RGB difference (0-255) to the previous frame on a 64-pixel-wide thumbnail. A frame starts
a new shot when its score is at least `cut_threshold`, at least `cut_ratio` times the mean score of its
`ratio_window` neighbours on each side (so steady fast motion does not read as a cut), and the shot
before it is at least `min_shot_frames` long. On the sample movie: cut scores >= 66, every other frame
<= 10.

Cuts, `vgg16` (the seed's method): VGG16 feature maps (torchvision, ImageNet weights) of the first and
last frame of each 8-frame window; a window whose two maps differ by more than `vgg_threshold` (cosine
distance) is dropped. Windows overlap by one frame, so no cut can hide between two windows. Shots are the
runs of kept windows; a cut is only located to its window, and the frames of a dropped window belong to
no shot (so video mode, which must never morph across a cut, takes the content detector only). Weights
come from torchvision's cache or `--vgg-weights FILE` (models/vgg16.py); there is never a download.

Held frames (either detector): drawings held for 2-3 frames ("on twos", "on threes"). The change score
of a frame is the HOLD_PIXELS-th largest pixel difference (max over RGB, 0-255) to the previous frame, at
a working size of at most ANALYSIS_SIDE pixels; ranking pixels ignores a few pixels of compression noise.
A frame repeats the previous one when its change is below `hold_threshold`. On the sample movie a
repeated drawing scores <= 7 (H.264 noise) and a new drawing of the `star` shot >= 27 at any working
size from 240 to 480 pixels; on small, noisy test clips a repeat scores up to 13.
A shot is on twos (threes) when its drawing changes land on every second (third) frame: changes are
rarely on adjacent frames and their median spacing is 2 (3). In such a shot a frame that repeats the
previous one is held; in a still longer than two beats the timing goes on (one new drawing every 2 or
3 frames), as on the animator's timing sheet. In a shot on ones nothing is held: a still there is a
still (`build-dataset` drops windows that do not move).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from framegen.core.media.movie import MovieInfo, MovieReader
from framegen.core.models.vgg16 import vgg16_features
from framegen.core.progress import progress

THUMB_WIDTH = 64  # cut scores are computed on thumbnails this wide


ANALYSIS_SIDE = 320  # held frames are compared at most this large


HOLD_PIXELS = 16  # a frame "changed" when at least this many pixels differ by hold_threshold or more


VGG_WINDOW = 8  # frames per window of the vgg16 detector (the seed's)


VGG_BATCH = 8


class FilterConfig(BaseModel):
    """Options of `framegen filter`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    detector: Literal["content", "vgg16"] = "content"
    cut_threshold: float = Field(20.0, gt=0)  # minimum cut score (mean abs RGB difference, 0-255)
    cut_ratio: float = Field(3.0, ge=1)  # ... and this many times the neighbours' mean score
    ratio_window: int = Field(2, ge=1)  # neighbours on each side
    min_shot_frames: int = Field(8, ge=1)
    hold_threshold: float = Field(16.0, gt=0)  # pixel difference (0-255) that counts as a change
    vgg_threshold: float = Field(0.5, gt=0)  # cosine distance between feature maps that drops a window
    vgg_weights: Path | None = None


@dataclass
class AnalysisFrame:
    """One frame as the detectors see it."""

    thumb: np.ndarray  # uint8 (h, THUMB_WIDTH, 3) RGB: for cut scores
    work: np.ndarray  # uint8 (h, w, 3) RGB, longest side at most ANALYSIS_SIDE: for change scores
    image: np.ndarray  # uint8 (H, W, 3) RGB, the frame itself: for vgg16

    @classmethod
    def of(cls, image: np.ndarray) -> "AnalysisFrame":
        h, w = image.shape[:2]
        thumb = cv2.resize(image, (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w))), interpolation=cv2.INTER_AREA)
        scale = min(1.0, ANALYSIS_SIDE / max(h, w))
        work = image if scale == 1.0 else cv2.resize(
            image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
        return cls(thumb, work, image)


class ContentDetector:
    """Cut scores (mean absolute RGB difference of the thumbnails of a frame and the previous one) and,
    once every frame is in, the shots they cut the frames into."""

    def __init__(self, config: FilterConfig):
        self.config = config
        self.scores: list[float] = []
        self.ratios = np.zeros(0, np.float32)  # (N,) each score over its neighbours' mean, set by post_process
        self._previous: np.ndarray | None = None

    def process_frame(self, frame: AnalysisFrame) -> None:
        previous, self._previous = self._previous, frame.thumb
        self.scores.append(0.0 if previous is None else float(cv2.absdiff(frame.thumb, previous).mean()))

    def post_process(self) -> list[tuple[int, int]]:
        """[start, end) frame positions of the shots."""
        scores = np.array(self.scores, np.float32)  # (N,)
        self.ratios = adaptive_ratios(scores, self.config.ratio_window)
        return shot_spans(content_cuts(scores, self.ratios, self.config), len(scores))


class VggDetector:
    """The seed's detector: VGG16 feature maps of the first and last frame of each VGG_WINDOW-frame
    window (windows overlap by one frame), fed to the network in batches as the frames come."""

    def __init__(self, config: FilterConfig):
        self.network = vgg16_features(config.vgg_weights)
        self.threshold = config.vgg_threshold
        self.count = 0
        self._batch: list[np.ndarray] = []
        self._features: list[np.ndarray] = []  # (VGG_BATCH, D) each, unit length
        self._last: np.ndarray | None = None  # the latest frame: the end of the last window

    def process_frame(self, frame: AnalysisFrame) -> None:
        if self.count % (VGG_WINDOW - 1) == 0:  # window w spans positions [7w, 7w + 7]: a window boundary
            self._add(frame.image)
            self._last = None
        else:
            self._last = frame.image  # the end of the last window if the frames stop here
        self.count += 1

    def _add(self, image: np.ndarray) -> None:
        self._batch.append(image)
        if len(self._batch) == VGG_BATCH:
            self._features.append(self.network(self._batch))
            self._batch = []

    def post_process(self) -> list[tuple[int, int]]:
        """[start, end) frame positions of the runs of kept windows (a dropped window's frames: no shot)."""
        if self._last is not None:
            self._add(self._last)
        if self._batch:
            self._features.append(self.network(self._batch))
        features = np.concatenate(self._features)  # (boundaries, D)
        distances = 1.0 - (features[:-1] * features[1:]).sum(axis=1)  # (windows,) cosine distances
        return vgg_spans(distances, self.count, self.threshold)


class HoldDetector:
    """Change scores (how much a frame differs from the previous one) and, once the shots are known,
    their timing and held frames."""

    def __init__(self, config: FilterConfig):
        self.threshold = config.hold_threshold
        self.changes: list[float] = []
        self._previous: np.ndarray | None = None

    def process_frame(self, frame: AnalysisFrame) -> None:
        previous, self._previous = self._previous, frame.work
        self.changes.append(0.0 if previous is None else change_score(frame.work, previous))

    def post_process(self, spans: list[tuple[int, int]]) -> tuple[np.ndarray, list[int], list[int]]:
        """(moved: bool (N,), the timing of each shot, the held frame positions)."""
        moved = np.array(self.changes, np.float32) >= self.threshold
        timings, held = [], []
        for start, end in spans:
            timings.append(shot_timing(moved[start:end]))
            held += [start + p for p in held_in_shot(moved[start:end], timings[-1])]
        return moved, timings, held


@dataclass
class Scenes:
    """What the detectors found in a run of N frames; positions count from 0 in that run."""

    cut_scores: np.ndarray  # float32 (N,)
    ratios: np.ndarray  # float32 (N,)
    changes: np.ndarray  # float32 (N,)
    moved: np.ndarray  # bool (N,)
    spans: list[tuple[int, int]]  # [start, end) of each shot
    timings: list[int]  # of each shot: 1, 2 or 3
    held: list[int]  # frames that repeat the previous drawing

    @property
    def cuts(self) -> list[int]:
        """Positions of the first frame of every shot but the first."""
        return [start for start, _ in self.spans[1:]]


class SceneDetector:
    """Cuts, shots and held frames of frames fed one at a time (PySceneDetect's `process_frame` /
    `post_process`), from a folder of PNGs (filter) or a decode pipe (interpolate's video mode)."""

    def __init__(self, config: FilterConfig):
        self.content = ContentDetector(config)  # its cut scores go into filter_scores.csv with either detector
        self.vgg = VggDetector(config) if config.detector == "vgg16" else None
        self.holds = HoldDetector(config)

    def process_frame(self, frame: AnalysisFrame) -> None:
        for detector in (self.content, self.vgg, self.holds):
            if detector is not None:
                detector.process_frame(frame)

    def process_frames(self, frames: Iterable[AnalysisFrame], total: int | None, label: str) -> None:
        """Feed every frame of `frames`, with a progress bar."""
        with progress(unit="frames") as bar:
            task = bar.add_task(label, total=total)
            for frame in frames:
                self.process_frame(frame)
                bar.advance(task)

    def post_process(self) -> Scenes:
        spans = self.content.post_process() if self.vgg is None else self.vgg.post_process()
        if self.vgg is not None:
            self.content.post_process()  # the ratios, for the scores file
        moved, timings, held = self.holds.post_process(spans)
        return Scenes(
            cut_scores=np.array(self.content.scores, np.float32), ratios=self.content.ratios,
            changes=np.array(self.holds.changes, np.float32), moved=moved, spans=spans, timings=timings, held=held,
        )


def change_score(work: np.ndarray, previous: np.ndarray) -> float:
    """The HOLD_PIXELS-th largest pixel difference (max over RGB, 0-255) between two working images."""
    difference = cv2.absdiff(work, previous)
    per_pixel = np.maximum(np.maximum(difference[..., 0], difference[..., 1]), difference[..., 2]).ravel()
    rank = min(HOLD_PIXELS, per_pixel.size)
    return float(np.partition(per_pixel, -rank)[-rank])


def adaptive_ratios(scores: np.ndarray, window: int) -> np.ndarray:
    """Each score divided by the mean score of its `window` neighbours on each side (inside the movie)."""
    n = len(scores)
    ratios = np.zeros(n, np.float32)
    for i in range(1, n):
        neighbours = np.concatenate([scores[max(1, i - window) : i], scores[i + 1 : i + 1 + window]])
        ratios[i] = scores[i] / (neighbours.mean() + 1e-3) if neighbours.size else np.inf
    return ratios


def content_cuts(scores: np.ndarray, ratios: np.ndarray, config: FilterConfig) -> list[int]:
    """Frame positions that start a new shot."""
    cuts: list[int] = []
    for i in range(1, len(scores)):
        shot_length = i - (cuts[-1] if cuts else 0)
        strong = scores[i] >= config.cut_threshold and ratios[i] >= config.cut_ratio
        if strong and shot_length >= config.min_shot_frames:
            cuts.append(i)
    return cuts


def shot_spans(cuts: list[int], n: int) -> list[tuple[int, int]]:
    """[start, end) frame positions of the shots between cuts."""
    bounds = [0, *cuts, n]
    return list(zip(bounds[:-1], bounds[1:]))


def vgg_spans(distances: np.ndarray, n: int, threshold: float) -> list[tuple[int, int]]:
    """[start, end) frame positions of the runs of kept vgg16 windows (window w spans [7w, 7w + 7])."""
    step = VGG_WINDOW - 1
    spans: list[tuple[int, int]] = []
    for w, distance in enumerate(distances):
        if distance > threshold:
            continue
        start, end = w * step, min(n, w * step + VGG_WINDOW)
        if spans and spans[-1][1] > start:  # overlaps the previous kept window by one frame: same shot
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def shot_timing(moved: np.ndarray) -> int:
    """1, 2 or 3: how many frames each drawing of the shot lasts. `moved[i]`: frame i differs from frame
    i - 1 (moved[0], the shot's first frame, is ignored)."""
    changes = np.flatnonzero(moved[1:]) + 1
    if len(changes) < 4:
        return 1
    adjacent = np.count_nonzero(np.diff(changes) == 1)
    if adjacent > 0.25 * len(changes):
        return 1
    spacing = np.median(np.diff(np.concatenate([[0], changes])))
    return int(np.clip(round(spacing), 2, 3))


def held_in_shot(moved: np.ndarray, timing: int) -> list[int]:
    """Positions (inside the shot) of the frames that repeat the previous drawing."""
    if timing == 1:
        return []
    starts = [0, *(np.flatnonzero(moved[1:]) + 1).tolist(), len(moved)]
    held = []
    for start, end in zip(starts[:-1], starts[1:]):
        length = end - start
        held += [start + j for j in range(1, length) if length <= 2 * timing or j % timing]
    return held




class NewDrawings:
    """Which frames show a new drawing: one that differs from the last new one by the hold test (change_score
    at least `threshold`), so a slow motion counts once its change has added up and a still stretch once."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.flags: list[bool] = []
        self._last: np.ndarray | None = None

    def see(self, frame: AnalysisFrame) -> AnalysisFrame:
        new = self._last is None or change_score(frame.work, self._last) >= self.threshold
        if new:
            self._last = frame.work
        self.flags.append(new)
        return frame


@dataclass
class MovieScenes:
    """What the detectors found in a movie (or the part of it read)."""

    cuts: list[int]  # frame positions that start a shot
    drawings: np.ndarray  # bool per frame: False = a held frame, repeating the previous drawing
    new_drawings: np.ndarray  # bool per frame: it differs from the last frame that did (NewDrawings)
    fps: Fraction  # the exact frame rate

    def shots(self) -> list[tuple[int, int]]:
        return shot_spans(self.cuts, len(self.drawings))

    def distinct(self) -> np.ndarray:
        """bool per frame: a drawing that differs from the last distinct one (a shot's first frame always): held
        frames and the frames of a shot that barely moves are left out until the change has added up."""
        distinct = self.drawings & self.new_drawings
        distinct[[start for start, _ in self.shots()]] = True
        return distinct

    def shot_drawings(self, frames: Iterator[np.ndarray]) -> Iterator[tuple[int, Iterator[np.ndarray]]]:
        """For each shot in order: (how many distinct drawings it has, an iterator over them), from one reading
        of the movie's `frames` (from the first frame analysed). Read each shot's drawings to the end before
        asking for the next shot."""
        distinct = self.distinct()
        for start, end in self.shots():
            count = int(np.count_nonzero(distinct[start:end]))
            yield count, (frame for position, frame in zip(range(start, end), frames) if distinct[position])


def analyse_movie(movie: Path, info: MovieInfo, config: FilterConfig, start: float = 0.0,
                  end: float | None = None) -> MovieScenes:
    """Cuts and held frames of `movie` from `start` to `end` seconds, from one small decode fed to the
    detectors of `framegen filter` with `config` (video mode and `evaluate MOVIE`)."""
    detector = SceneDetector(config)
    new_drawings = NewDrawings(config.hold_threshold)
    with MovieReader(movie, info, ANALYSIS_SIDE, start, end) as frames:
        analysed = map(new_drawings.see, map(AnalysisFrame.of, frames))
        detector.process_frames(analysed, frames.expected_frames(), "analyse")
    frames.check_decoded()
    frames.report_warnings()
    scenes = detector.post_process()
    drawings = np.ones(frames.frames_read, bool)
    drawings[scenes.held] = False
    return MovieScenes(scenes.cuts, drawings, np.array(new_drawings.flags, bool), frames.frame_rate())
