"""build-dataset: 8-frame windows cut from an extracted, filtered movie (the format: formats/dataset.py).

- a window is `window_length` consecutive distinct drawings of one shot: held frames are skipped (a
  window's frames are the shot's drawings in order), and no window crosses a cut;
- windows start every `stride` drawings; a window is dropped as static when fewer than `min_moving` of
  its steps (drawing to next drawing) move, as filter's `moved` column says;
- frames are centre-cropped to a square and resized to `size` x `size`: a crop, not a letterbox, so
  the model never learns (or is scored on) bars that do not move, at the price of the frame's sides;
- shots, not windows, are split into train and val (seeded shuffle; val gets whole shots until it
  holds `val_fraction` of the windows; with two shots or more at least one is val, one is train).
Frames stream through a cache of one window's span: memory does not grow with the movie.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from framegen.core.errors import InputError
from framegen.core.formats.dataset import (
    SPLITS,
    DatasetManifest,
    DatasetWriter,
    WindowInfo,
    check_room_for_dataset,
    dataset_bytes,
)
from framegen.core.formats.frames import FramesManifest, iter_frames
from framegen.core.formats.shots import FILTER_NAME, FilterManifest, read_filter_manifest, read_moved
from framegen.core.manifest import (
    upstream_ref,
)
from framegen.core.progress import progress
from framegen.core.workspace import stage_output

log = logging.getLogger(__name__)


class BuildDatasetConfig(BaseModel):
    """Options of `framegen build-dataset`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    window_length: int = Field(8, ge=2, le=64)
    stride: int = Field(4, ge=1)  # drawings between the starts of two windows
    size: int = Field(256, ge=16, le=2048)  # frames are size x size
    min_moving: float = Field(0.5, ge=0.0, le=1.0)  # fraction of a window's steps that must move
    val_fraction: float = Field(0.15, ge=0.0, lt=1.0)  # of the windows, in whole shots
    seed: int = Field(0, ge=0)


@dataclass
class PlannedWindow:
    shot: str
    positions: list[int]  # frame positions in the frames manifest, in order
    split: str = "train"


def build_dataset(
    frames_folder: Path, output: Path, config: BuildDatasetConfig, overwrite: bool = False
) -> DatasetManifest:
    """Cut the windows of an extracted + filtered movie into a dataset folder; manifest.json last."""
    frames_folder = Path(frames_folder)
    scenes, frames = read_filter_manifest(frames_folder)
    windows, drawings = plan_windows(frames, scenes, read_moved(frames_folder, scenes, frames), config)
    if not windows:
        raise InputError(
            f"{frames_folder}: no window of {config.window_length} distinct, moving drawings inside one shot "
            f"({len(scenes.shots)} shots, the longest has {max(drawings, default=0)} drawings); "
            "use a longer movie or a smaller --window-length"
        )
    split_by_shot(windows, config)
    counts = {split: sum(1 for w in windows if w.split == split) for split in SPLITS}
    if config.val_fraction > 0 and counts["val"] == 0:
        log.warning("only one shot has windows, so the val split is empty")
    header = DatasetManifest.header(config.model_dump(), upstream_ref(output, frames_folder / FILTER_NAME))
    check_room_for_dataset(output, dataset_bytes(counts, config.window_length, config.size, config.size))
    with stage_output(output, "build-dataset", overwrite, inputs=[frames_folder]):
        with DatasetWriter(output, counts, config.window_length, config.size, config.size) as writer:
            write_windows(writer, frames_folder, frames, windows, config.size)
            manifest = writer.finish({**header, "kind": "movie"})
    return manifest


def plan_windows(
    frames: FramesManifest, scenes: FilterManifest, moved: dict[int, bool], config: BuildDatasetConfig
) -> tuple[list[PlannedWindow], list[int]]:
    """The windows to write, in movie order, and the number of drawings of every shot."""
    position_of = {frame.source_index: position for position, frame in enumerate(frames.frames)}
    held = set(scenes.held_frames)
    steps = config.window_length - 1
    windows, drawings_per_shot = [], []
    for number, shot in enumerate(scenes.shots):
        if shot.first not in position_of or shot.last not in position_of:
            raise InputError(f"filter manifest: shot {shot.first}-{shot.last} is not in the frames manifest")
        positions = range(position_of[shot.first], position_of[shot.last] + 1)
        drawings = [p for p in positions if frames.frames[p].source_index not in held]
        drawings_per_shot.append(len(drawings))
        for start in range(0, len(drawings) - config.window_length + 1, config.stride):
            window = drawings[start : start + config.window_length]
            moving = sum(moved[frames.frames[p].source_index] for p in window[1:])
            if moving >= config.min_moving * steps:
                windows.append(PlannedWindow(shot=f"shot{number:03d}", positions=window))
    return windows, drawings_per_shot


def split_by_shot(windows: list[PlannedWindow], config: BuildDatasetConfig) -> None:
    """Mark whole shots as val (seeded) until val holds `val_fraction` of the windows."""
    per_shot: dict[str, int] = {}
    for window in windows:
        per_shot[window.shot] = per_shot.get(window.shot, 0) + 1
    shots = sorted(per_shot)
    random.Random(config.seed).shuffle(shots)
    val: set[str] = set()
    val_windows = 0
    if config.val_fraction > 0:
        for shot in shots[:-1]:  # the last shot stays train
            if val_windows >= config.val_fraction * len(windows):
                break
            val.add(shot)
            val_windows += per_shot[shot]
    for window in windows:
        window.split = "val" if window.shot in val else "train"


def square(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 (H, W, 3) -> uint8 (size, size, 3): the centred square, resized."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = image[top : top + side, left : left + side]
    if side == size:
        return np.ascontiguousarray(crop)
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_CUBIC)


def write_windows(
    writer: DatasetWriter, folder: Path, frames: FramesManifest, windows: list[PlannedWindow], size: int
) -> None:
    """Decode each needed frame once, in movie order; keep only the current window's span in memory."""
    needed = sorted({p for window in windows for p in window.positions})
    cache: dict[int, np.ndarray] = {}
    next_window = 0
    with progress(unit="windows") as bar:
        task = bar.add_task("build-dataset", total=len(windows))
        infos = [frames.frames[p] for p in needed]
        for position, (_, image) in zip(needed, iter_frames(folder, infos, lambda image: square(image, size))):
            cache[position] = image
            while next_window < len(windows) and windows[next_window].positions[-1] <= position:
                window = windows[next_window]
                sources = [frames.frames[p].source_index for p in window.positions]
                stack = np.stack([cache[p] for p in window.positions])  # uint8 (T, size, size, 3)
                writer.add(window.split, stack, WindowInfo(shot=window.shot, frames=sources))
                next_window += 1
                bar.advance(task)
            oldest = windows[next_window].positions[0] if next_window < len(windows) else position + 1
            for stale in [p for p in cache if p < oldest]:
                del cache[stale]
