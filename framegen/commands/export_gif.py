"""`framegen export-gif`: a folder of frames (or a frames manifest) -> GIF, WebP, APNG or MP4."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from framegen import console
from framegen.core import workspace
from framegen.core.config import resolve_config

NAME = "export-gif"


def run(
    frames: Optional[Path] = typer.Argument(
        None, help="Folder of PNG frames (name order), or a frames folder / manifest.json from extract. "
        "\\[default: framegen-work/frames]", show_default=False,
    ),
    output: Optional[Path] = typer.Option(
        None, "-o", "--output", help="Animation to write: .gif .webp .png (APNG) .mp4. "
        "\\[default: framegen-work/animation.gif]",
    ),
    fps: Optional[float] = typer.Option(
        None, "--fps", help="Frames per second. \\[default: the manifest's frame rate, else 12]"
    ),
    loop: Optional[int] = typer.Option(
        None, "--loop", help="How many times the animation plays; 0 = forever (GIF/WebP/APNG). \\[default: 0]"
    ),
    pingpong: Optional[bool] = typer.Option(
        None, "--pingpong/--no-pingpong", help="Play forwards then backwards. \\[default: off]"
    ),
    width: Optional[int] = typer.Option(None, "--width", help="Scale to this width, aspect kept. \\[default: as is]"),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file of options (flags win)."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing -o file that is not an earlier animation of framegen's."),
) -> None:
    """Turn frames into an animation: GIF (a palette per frame, ffmpeg palettegen/paletteuse), WebP, APNG
    or MP4, by the suffix of -o.

    Examples:
        framegen export-gif framegen-work/frames -o movie.gif
        framegen export-gif inbetweens/ -o out.webp --fps 24 --pingpong --width 320

    Frames stream through ffmpeg, so long sequences need little memory. The file appears only when it is
    complete (written to a temporary name, then renamed).
    """
    from framegen.core.stages.export_gif import ExportConfig, export_frames

    settings = resolve_config(ExportConfig, dict(fps=fps, loop=loop, pingpong=pingpong, width=width), config)
    if frames is None:
        frames = workspace.input_folder(None, "frames")
    if output is None:  # in the workspace: beside its frames folder, the default input
        output = workspace.workspace() / "animation.gif"
        output.parent.mkdir(parents=True, exist_ok=True)
    count, rate = export_frames(frames, output, settings, overwrite)
    console.result(f"wrote {output}: {console.count(count, 'frame')} at {rate:g} fps")
