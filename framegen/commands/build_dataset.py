"""`framegen build-dataset`: 8-frame training windows from an extracted, filtered movie."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from framegen import console
from framegen.core import workspace
from framegen.core.config import resolve_config

NAME = "build-dataset"


def run(
    folder: Optional[Path] = typer.Argument(
        None, help="Frames folder, after `extract` and `filter`. \\[default: framegen-work/frames]"
    ),
    output: Optional[Path] = typer.Option(
        None, "-o", "--output", help="Dataset folder to write. \\[default: framegen-work/dataset]"
    ),
    size: Optional[int] = typer.Option(
        None, "--size", help="Frames are SIZE x SIZE: the centred square of each frame, resized. \\[default: 256]"
    ),
    window_length: Optional[int] = typer.Option(
        None, "--window-length", help="Distinct drawings per window. \\[default: 8]"
    ),
    stride: Optional[int] = typer.Option(
        None, "--stride", help="Drawings between the starts of two windows of a shot. \\[default: 4]"
    ),
    min_moving: Optional[float] = typer.Option(
        None, "--min-moving", help="Drop a window when fewer than this fraction of its steps move. \\[default: 0.5]"
    ),
    val_fraction: Optional[float] = typer.Option(
        None, "--val-fraction", help="Share of the windows in val, taken in whole shots. \\[default: 0.15]"
    ),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the shot split. \\[default: 0]"),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file of options (flags win)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty output folder."),
) -> None:
    """Cut training windows of distinct drawings from an extracted, filtered movie.

    Examples:
        framegen build-dataset
        framegen build-dataset clip-frames -o clip-dataset --size 128

    A window never crosses a cut and never holds a held frame; windows that barely move are dropped.
    Train and val get different shots. Frames are stored as uint8 arrays that training memory-maps.
    """
    from framegen.core.stages.build_dataset import BuildDatasetConfig, build_dataset

    settings = resolve_config(
        BuildDatasetConfig,
        dict(size=size, window_length=window_length, stride=stride, min_moving=min_moving,
             val_fraction=val_fraction, seed=seed),
        config,
    )
    frames = workspace.input_folder(folder, "frames")
    destination = output if output is not None else workspace.default_folder("dataset")
    manifest = build_dataset(frames, destination, settings, overwrite)
    train, val = manifest.splits["train"], manifest.splits["val"]
    console.result(
        f"wrote {console.count(len(train.windows) + len(val.windows), 'window')} of {manifest.window_length} "
        f"frames at {manifest.width}x{manifest.height} to {destination} ({len(train.windows)} train from "
        f"{console.count(len(train.shots), 'shot')}, {len(val.windows)} val from "
        f"{console.count(len(val.shots), 'shot')})"
    )
