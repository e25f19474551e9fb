"""Finding and running ffmpeg.

The binary is looked up in this order: the FRAMEGEN_FFMPEG environment variable, `ffmpeg` on PATH, then
the static binary that the imageio-ffmpeg wheel ships (so `pip install framegen` needs no system ffmpeg).
ffmpeg is always started with an argument list, never through a shell, so a file named `$(touch x).mp4`
is just a name. File names that start with `-` are passed as `file:-y.mp4` so ffmpeg never reads them
as options.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

from framegen.core.errors import ExternalToolError


@functools.cache
def ffmpeg_binary() -> str:
    configured = os.environ.get("FRAMEGEN_FFMPEG")
    if configured:
        if not (Path(configured).is_file() and os.access(configured, os.X_OK)):
            raise ExternalToolError(f"FRAMEGEN_FFMPEG={configured} is not an executable file")
        return configured
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        raise ExternalToolError(
            "ffmpeg not found: install it, set FRAMEGEN_FFMPEG, or `pip install imageio-ffmpeg`"
        ) from None


def file_arg(path: Path | str) -> str:
    """A path as ffmpeg must see it: `file:` protocol, so names like `-y.mp4` or `a:b.mp4` stay names."""
    return "file:" + str(path)


def last_error_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
