"""filter: scene cuts, shots and held frames of an extracted movie (manifest schema framegen/filter).

Reads the frames folder of `extract` and writes two files beside its frames:
    filter.json          FilterManifest: cuts, shots (with their timing: on ones, twos or threes),
                         held frames; all as source frame indices; upstream = the frames manifest
    filter_scores.csv    one row per frame: the scores the decisions were made from

The detectors and their options (FilterConfig) are in core/scenes.py; the two files' format in
formats/shots.py.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterator

from framegen.core.errors import InputError, UsageError
from framegen.core.formats.frames import FramesManifest, iter_frames, read_frames_manifest
from framegen.core.formats.shots import FILTER_NAME, SCORES_NAME, FilterManifest, Shot
from framegen.core.manifest import (
    MANIFEST_NAME,
    atomic_write_bytes,
    upstream_ref,
    write_manifest,
)
from framegen.core.scenes import AnalysisFrame, FilterConfig, SceneDetector, Scenes
from framegen.core.workspace import folder_lock, record_written


def filter_frames(folder: Path, config: FilterConfig, overwrite: bool = False) -> FilterManifest:
    """Find cuts, shots and held frames of the frames folder `folder`; write filter.json last."""
    folder = Path(folder)
    frames = read_frames_manifest(folder)
    if frames.frame_count == 0:
        raise InputError(f"{folder}: the frames manifest lists no frames")
    with folder_lock(folder):
        if (folder / FILTER_NAME).exists() and not overwrite:
            raise UsageError(f"{folder}: already filtered ({FILTER_NAME} exists; use --overwrite to redo it)")
        detector = SceneDetector(config)  # vgg16 loads its weights here, and may refuse: first
        detector.process_frames(same_size_frames(folder, frames), frames.frame_count, "filter")
        scenes = detector.post_process()
        # every frame decoded: only now is the earlier result removed (a stop from here on leaves no
        # filter.json beside scores it does not describe)
        (folder / FILTER_NAME).unlink(missing_ok=True)
        write_scores(folder / SCORES_NAME, frames, scenes)
        source = [frame.source_index for frame in frames.frames]
        manifest = FilterManifest(
            **FilterManifest.header(config.model_dump(mode="json"), upstream_ref(folder, folder / MANIFEST_NAME)),
            detector=config.detector,
            frame_count=frames.frame_count,
            cuts=[source[p] for p in scenes.cuts],
            shots=[
                Shot(first=source[start], last=source[end - 1], frames=end - start, timing=timing)
                for (start, end), timing in zip(scenes.spans, scenes.timings)
            ],
            held_frames=[source[p] for p in scenes.held],
            scores_file=SCORES_NAME,
        )
        write_manifest(manifest, folder, FILTER_NAME)
        record_written(folder, "extract", [FILTER_NAME, SCORES_NAME])  # --overwrite of extract may remove them
    return manifest


def same_size_frames(folder: Path, frames: FramesManifest) -> Iterator[AnalysisFrame]:
    """The frames of an extract folder in order, prepared for the detectors on worker threads; InputError
    at the first frame whose size differs from the frames before it."""
    shape = None
    for info, frame in iter_frames(folder, frames.frames, AnalysisFrame.of):
        if shape is not None and frame.work.shape != shape:
            raise InputError(f"{folder}: frame {info.file} is not the size of the frames before it")
        shape = frame.work.shape
        yield frame


# ------------------------------------------------------------------------------------------- detectors




























def write_scores(path: Path, frames: FramesManifest, scenes: Scenes) -> None:
    cut_set, held_set = set(scenes.cuts), set(scenes.held)
    text = io.StringIO()
    table = csv.writer(text, lineterminator="\n")
    table.writerow(["source_index", "timestamp", "cut_score", "cut_ratio", "change", "moved", "cut", "held"])
    for i, frame in enumerate(frames.frames):
        table.writerow([
            frame.source_index, f"{frame.timestamp:.6f}", f"{scenes.cut_scores[i]:.4f}",
            f"{min(scenes.ratios[i], 1e6):.4f}", f"{scenes.changes[i]:.1f}", int(scenes.moved[i]),
            int(i in cut_set), int(i in held_set),
        ])
    atomic_write_bytes(path, text.getvalue().encode())


