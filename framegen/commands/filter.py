"""`framegen filter`: scene cuts, shots and held frames of an extracted movie."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from framegen import console
from framegen.commands.options import (
    CUT_RATIO,
    CUT_THRESHOLD,
    HOLD_THRESHOLD,
    MIN_SHOT_FRAMES,
    RATIO_WINDOW,
    detector_flags,
)
from framegen.core import workspace
from framegen.core.config import resolve_config

NAME = "filter"

def run(
    folder: Optional[Path] = typer.Argument(
        None, help="Frames folder written by `extract`. \\[default: framegen-work/frames]"
    ),
    detector: Optional[str] = typer.Option(
        None, "--detector", help="Cut detector: content (fast, no weights) or vgg16 (the seed's method, "
        "needs the torchvision ImageNet weights). \\[default: content]",
    ),
    cut_threshold: Optional[float] = CUT_THRESHOLD,
    cut_ratio: Optional[float] = CUT_RATIO,
    ratio_window: Optional[int] = RATIO_WINDOW,
    min_shot_frames: Optional[int] = MIN_SHOT_FRAMES,
    hold_threshold: Optional[float] = HOLD_THRESHOLD,
    vgg_threshold: Optional[float] = typer.Option(
        None, "--vgg-threshold", help="vgg16: feature distance (cosine) that drops a window. \\[default: 0.5]"
    ),
    vgg_weights: Optional[Path] = typer.Option(
        None, "--vgg-weights", help="vgg16: weights file (a torchvision VGG16 state_dict). "
        "\\[default: torchvision's cache]",
    ),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file of options (flags win)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Redo a folder that was filtered before."),
) -> None:
    """Find scene cuts, shots and held frames ("on twos") of an extracted movie.

    Examples:
        framegen filter
        framegen filter clip-frames --cut-threshold 30 --overwrite

    Writes filter.json (cuts, shots, held frames, as source frame indices) and filter_scores.csv (the
    per-frame scores) into the frames folder.
    """
    from framegen.core.formats.shots import FILTER_NAME, SCORES_NAME
    from framegen.core.scenes import FilterConfig
    from framegen.core.stages.filter import filter_frames

    flags = detector_flags(detector, cut_threshold, cut_ratio, ratio_window, min_shot_frames, hold_threshold)
    settings = resolve_config(FilterConfig, dict(flags, vgg_threshold=vgg_threshold, vgg_weights=vgg_weights), config)
    frames = workspace.input_folder(folder, "frames")
    manifest = filter_frames(frames, settings, overwrite)
    on_twos = sum(1 for shot in manifest.shots if shot.timing > 1)
    console.result(
        f"found {console.count(len(manifest.cuts), 'cut')}, {console.count(len(manifest.shots), 'shot')} "
        f"({on_twos} on twos or threes), {console.count(len(manifest.held_frames), 'held frame')}; "
        f"wrote {frames / FILTER_NAME} and {frames / SCORES_NAME}"
    )
