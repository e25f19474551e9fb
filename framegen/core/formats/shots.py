"""filter's results (schema framegen/filter): shots, cuts and held frames of a frames folder.

`filter` writes two files beside the frames:
    filter.json          FilterManifest: cuts, shots (with their timing: on ones, twos or threes),
                         held frames; all as source frame indices; upstream = the frames manifest
    filter_scores.csv    one row per frame: the scores the decisions were made from
`read_filter_manifest` returns both manifests (the upstream sha256 checked); `read_moved` reads the
`moved` column that build-dataset uses to drop static windows."""

from __future__ import annotations

import csv
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from framegen.core.errors import InputError
from framegen.core.files import check_regular_file
from framegen.core.formats.frames import FramesManifest, read_frames_manifest
from framegen.core.manifest import (
    MANIFEST_NAME,
    Manifest,
    check_upstream,
    read_manifest,
    resolve_inside,
)

FILTER_NAME = "filter.json"


SCORES_NAME = "filter_scores.csv"


class Shot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first: int  # source frame index of its first frame
    last: int  # ... and of its last frame (inclusive)
    frames: int  # extracted frames in it
    timing: int  # 1 = on ones, 2 = on twos, 3 = on threes


class FilterManifest(Manifest):
    SCHEMA = "framegen/filter"
    SCHEMA_VERSION = 1

    detector: str
    frame_count: int
    cuts: list[int]  # source frame index of the first frame of every shot but the first
    shots: list[Shot]
    held_frames: list[int]  # source frame indices of frames that repeat the previous drawing
    scores_file: str  # relative to the frames folder


def read_filter_manifest(folder: Path) -> tuple[FilterManifest, FramesManifest]:
    """The filter manifest of a frames folder and the frames manifest it was made from (sha256 checked)."""
    manifest = read_manifest(FilterManifest, folder, FILTER_NAME)
    upstream = check_upstream(manifest, folder)
    if upstream != (Path(folder) / MANIFEST_NAME).resolve():
        raise InputError(f"{folder}: {FILTER_NAME} was made from {manifest.upstream.path}, not from this folder")
    return manifest, read_frames_manifest(folder)


def read_moved(folder: Path, manifest: FilterManifest, frames: FramesManifest) -> dict[int, bool]:
    """From filter_scores.csv: source frame index -> whether the frame differs from the previous one."""
    path = resolve_inside(folder, manifest.scores_file)
    check_regular_file(path, "the filter scores (CSV)")
    try:
        rows = list(csv.DictReader(path.read_text().splitlines()))
        moved = {int(row["source_index"]): row["moved"] == "1" for row in rows}
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise InputError(f"{path}: unreadable filter scores ({e}); rerun filter with --overwrite") from None
    if len(moved) != frames.frame_count:
        raise InputError(f"{path}: {len(moved)} rows for {frames.frame_count} frames; rerun filter with --overwrite")
    return moved


