"""export-gif: a frames folder (or any folder of PNG frames) to one animation file.

`export_frames` feeds `media.animation.write_animation` the PNG files of a folder, in name order, or the
frames a frames manifest (`extract`) lists, in its order and at its frame rate. The output may not be one
of its inputs nor lie in their folder, nor replace a file that is not an animation (`check_output_file`)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from framegen.core.errors import InputError
from framegen.core.formats.frames import read_frames_manifest
from framegen.core.manifest import MANIFEST_NAME
from framegen.core.media.animation import (
    DEFAULT_FPS,
    animation_format,
    check_animation,
    is_animation_file,
    pingpong,
    scaled_size,
    write_animation,
)
from framegen.core.media.images import read_image, with_channels
from framegen.core.progress import progress
from framegen.core.workspace import check_output_file


def frame_files(source: Path) -> tuple[list[Path], Fraction | None]:
    """The frame files of `source` and their frame rate when known.

    `source`: a frames folder with a frames manifest (extract's; its order and fps), that manifest file,
    or any folder of PNG files (name order, fps unknown).
    """
    source = Path(source)
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    folder = source.parent if source.is_file() else source
    if source.is_file() or (folder / MANIFEST_NAME).is_file():
        manifest = read_frames_manifest(folder)
        return [folder / frame.file for frame in manifest.frames], Fraction(manifest.fps)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png" and not p.name.startswith("."))
    if not files:
        raise InputError(f"{folder}: no PNG frames here")
    return files, None


class ExportConfig(BaseModel):
    """Options of `framegen export-gif`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    fps: float | None = Field(None, gt=0, le=1000)  # None: the manifest's frame rate, else DEFAULT_FPS
    loop: int = Field(0, ge=0)  # plays, 0 = forever
    pingpong: bool = False
    width: int | None = Field(None, ge=2, le=8192)  # None: the frames' own size




def export_frames(source: Path, output: Path, config: ExportConfig, overwrite: bool = False) -> tuple[int, float]:
    """Write the frames of `source` (see frame_files) as the animation `output`; (frames written, fps)."""
    animation_format(output)  # refuse an unknown format before reading anything
    files, known_fps = frame_files(source)
    manifest = Path(source).parent / MANIFEST_NAME if Path(source).is_file() else Path(source) / MANIFEST_NAME
    check_output_file(output, [*files, manifest, Path(files[0]).parent], overwrite, is_animation_file)
    rate = config.fps or (float(known_fps) if known_fps else DEFAULT_FPS)
    height, width, channels = read_image(files[0]).shape
    check_animation(output, *scaled_size(width, height, config.width), config.loop)  # before any work
    sequence = pingpong(files) if config.pingpong else files
    with progress(unit="frames") as bar:
        task = bar.add_task("export", total=len(sequence))

        def frames() -> Iterator[np.ndarray]:
            for file in sequence:
                yield with_channels(read_image(file, keep_alpha=channels == 4), channels)
                bar.advance(task)

        count = write_animation(output, frames(), rate, config.loop, config.width)
    return count, rate




