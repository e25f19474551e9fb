"""Reading and writing files safely: framegen reads only regular files (a FIFO would block it forever) and
never writes through a symbolic link it did not make (a link planted in an output folder would make it
overwrite any file the user can write)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import IO

from framegen.core.errors import InputError


def check_regular_file(path: Path, expected: str) -> None:
    """InputError unless `path` is a regular file (through links): "no such file", a folder, or a FIFO, socket
    or device, whose read could block forever (a FIFO with no writer) or never end."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read it ({e.strerror})") from None
    if stat.S_ISDIR(mode):
        raise InputError(f"{path}: is a folder, expected {expected}")
    if not stat.S_ISREG(mode):
        raise InputError(f"{path}: not a regular file (a FIFO, socket or device), expected {expected}")


def open_no_link(path: Path, mode: str) -> IO[str]:
    """open(path, mode, newline="") for text, "a" or "w", that never follows a symbolic link at `path`: a
    link planted where framegen writes would make it write into any file the user can write. A link is an
    InputError. (newline="": what the csv module asks for; framegen writes no other text this way.)"""
    flags = {"a": os.O_WRONLY | os.O_CREAT | os.O_APPEND, "w": os.O_WRONLY | os.O_CREAT | os.O_TRUNC}[mode]
    try:
        descriptor = os.open(path, flags | os.O_NOFOLLOW, 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            refuse_link(path)
        raise
    return os.fdopen(descriptor, mode, newline="")


def refuse_link(path: Path) -> None:
    """InputError if `path` is a symbolic link: framegen writes only files and folders it made itself."""
    if Path(path).is_symlink():
        raise InputError(f"{path}: is a symbolic link, which framegen did not make; it never writes through "
                         "a link: remove the link, or choose another output folder")


def make_folder(path: Path) -> Path:
    """mkdir -p `path`, refusing a symbolic link in its place (see `refuse_link`)."""
    path = Path(path)
    refuse_link(path)
    path.mkdir(parents=True, exist_ok=True)
    return path
