"""`framegen synth`: synthetic training windows with exact ground truth, in the dataset format."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from framegen import console
from framegen.core import workspace
from framegen.core.config import resolve_config

NAME = "synth"


def run(
    output: Optional[Path] = typer.Option(
        None, "-o", "--output", help="Dataset folder to write. \\[default: framegen-work/synth]"
    ),
    windows: Optional[int] = typer.Option(None, "--windows", help="Number of windows. \\[default: 1000]"),
    size: Optional[int] = typer.Option(None, "--size", help="Frame width and height in pixels. \\[default: 256]"),
    length: Optional[int] = typer.Option(None, "--length", help="Frames per window. \\[default: 8]"),
    seed: Optional[int] = typer.Option(None, "--seed", help="Same seed, same bytes. \\[default: 0]"),
    motion: Optional[str] = typer.Option(
        None, "--motion",
        help="Motion sizes: small (sub-pixel to ~2 px a frame), medium, large (1/4 to 3/5 of the frame across "
        "the window) or mixed (each layer draws one). \\[default: mixed]",
    ),
    hold_rate: Optional[float] = typer.Option(
        None, "--hold-rate", help="Fraction of windows animated on twos (held frames). \\[default: 0]"
    ),
    lighting: Optional[float] = typer.Option(
        None, "--lighting", help="Fraction of windows whose brightness and colour change. \\[default: 0]"
    ),
    motion_blur: Optional[float] = typer.Option(
        None, "--motion-blur", help="Fraction of windows with motion blur. \\[default: 0]"
    ),
    val_fraction: Optional[float] = typer.Option(
        None, "--val-fraction", help="Fraction of windows in the val split. \\[default: 0.05]"
    ),
    textures: Optional[Path] = typer.Option(
        None, "--textures",
        help="Folder of PNG/JPEG/WebP images (searched recursively) or a dataset folder: textured layers and "
        "backgrounds are cut from them. \\[default: procedural noise, gradients, stripes]",
    ),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes. \\[default: every core]"),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file of options (flags win)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty output folder."),
) -> None:
    """Render synthetic training windows with exact ground truth, in the format `build-dataset` writes.

    Examples:
        framegen synth --windows 3000
        framegen synth -o synth-large --motion large --hold-rate 0.3

    Each window is a scene: a background and layers (cartoon shapes, textured cut-outs, strokes)
    moving along smooth random paths, occluding each other, entering and leaving the frame.
    A scene is a pure function of (seed, window, t): every frame is exact ground truth.
    `train` reads the folder directly and can mix it with real datasets.
    """
    from framegen.core.stages.synth import SynthConfig, write_synth_dataset

    settings = resolve_config(
        SynthConfig,
        dict(windows=windows, size=size, length=length, seed=seed, motion=motion, hold_rate=hold_rate,
             lighting=lighting, motion_blur=motion_blur, val_fraction=val_fraction, textures=textures,
             workers=workers),
        config,
    )
    folder = output if output is not None else workspace.workspace() / "synth"
    manifest = write_synth_dataset(settings, folder, overwrite)
    train, val = (len(manifest.splits[split].windows) for split in ("train", "val"))
    console.result(
        f"wrote {console.count(train + val, 'synthetic window')} of {settings.length} frames at "
        f"{settings.size}x{settings.size} to {folder} ({train} train, {val} val)"
    )
