"""`framegen extract`: decode a movie into PNG frames and a frames manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from framegen import console
from framegen.core import workspace
from framegen.core.config import resolve_config

NAME = "extract"


def run(
    movie: Path = typer.Argument(..., help="The movie file (anything ffmpeg decodes)."),
    output: Optional[Path] = typer.Option(
        None, "-o", "--output", help="Frames folder to write. \\[default: framegen-work/frames]"
    ),
    max_side: Optional[int] = typer.Option(
        None, "--max-side", help="Working size: longest side in pixels, aspect kept; 0 = the movie's size. "
        "Never enlarges. \\[default: 640]",
    ),
    start: Optional[float] = typer.Option(None, "--start", help="Start at this time, in seconds. \\[default: 0]"),
    end: Optional[float] = typer.Option(None, "--end", help="Stop before this time, in seconds. \\[default: the end]"),
    every: Optional[int] = typer.Option(None, "--every", help="Keep one frame in N. \\[default: 1]"),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file of options (flags win)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty output folder."),
) -> None:
    """Decode every frame of MOVIE into numbered PNGs plus manifest.json.

    Examples:
        framegen extract movie.mp4
        framegen extract movie.mp4 --start 60 --end 90 --max-side 480 -o clip-frames

    ffmpeg decodes and scales in one pass. The manifest records the movie's path, sha256, codec, size and
    frame rate, and for every frame its source frame index and timestamp. A run that was killed is redone
    by simply running the command again.
    """
    from framegen.core.stages.extract import ExtractConfig, extract

    settings = resolve_config(ExtractConfig, dict(max_side=max_side, start=start, end=end, every=every), config)
    folder = output if output is not None else workspace.default_folder("frames")
    manifest = extract(movie, folder, settings, overwrite)
    console.result(
        f"wrote {console.count(manifest.frame_count, 'frame')} of {manifest.width}x{manifest.height} "
        f"({manifest.source.codec}, {manifest.fps} fps) to {folder}"
    )
