"""The default workspace and the rules every stage follows when it writes a folder.

Default workspace: `./framegen-work/` in the current directory (override with FRAMEGEN_WORKSPACE).
    framegen-work/frames/    extract (+ filter's manifest beside the frames)
    framegen-work/dataset/   build-dataset
    framegen-work/run/       train
A stage whose input is left out reads the previous stage's folder there; a stage whose output is left
out writes there. Explicit paths always win.

Writing a stage's folder (`stage_output`):
- the folder is locked (fcntl) while the stage runs: a second framegen on the same folder refuses;
- a folder that holds anything but an unfinished run of the same stage is refused unless --overwrite;
- a `.framegen-partial` marker lives in the folder until the stage has written its manifest, so a run that
  was killed is recognised and simply redone by the next run, with no --overwrite needed;
- a stage that fails before writing anything removes the folder it created.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from framegen.core.errors import InputError, UsageError

LOCK_NAME = ".framegen.lock"
PARTIAL_NAME = ".framegen-partial"

STAGE_FOLDERS = {"frames": "frames", "dataset": "dataset", "run": "run"}
WRITTEN_BY = {"frames": "extract", "dataset": "build-dataset", "run": "train"}  # the stage that makes each


def workspace() -> Path:
    return Path(os.environ.get("FRAMEGEN_WORKSPACE", "framegen-work"))


def default_folder(stage: str) -> Path:
    """`frames`, `dataset` or `run` inside the default workspace."""
    return workspace() / STAGE_FOLDERS[stage]


def input_folder(given: Path | None, stage: str) -> Path:
    """The folder a stage reads: the one given, else the default workspace's, which must exist."""
    folder = Path(given) if given is not None else default_folder(stage)
    if not folder.exists():
        run_first = f"run `framegen {WRITTEN_BY[stage]}` first, or name a folder"
        hint = "" if given is not None else f" (the default workspace: {run_first})"
        raise InputError(f"{folder}: no such folder{hint}")
    if not folder.is_dir():
        raise InputError(f"{folder}: is a file, expected a folder")
    return folder


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on `folder` (created if needed); a second framegen process refuses."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: output path is a file, expected a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock_file = open(folder / LOCK_NAME, "a")
    except OSError as e:
        raise InputError(f"{folder}: cannot write the output folder ({e.strerror})") from None
    with lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"{folder}: another framegen process is writing this folder") from None
        yield


@contextmanager
def stage_output(folder: Path, stage: str, overwrite: bool, resume: bool = False) -> Iterator[Path]:
    """Lock `folder`, check it may be written, empty it, mark it partial; unmark when the body finishes.

    `resume`: keep what the folder holds (a stage that continues its own earlier, e.g. killed, run).

    The body writes its manifest last; if it raises (or the process is killed), the marker stays, the
    manifest is absent, and the next run of the same stage redoes it without needing --overwrite.
    """
    folder = Path(folder)
    created = not folder.exists()
    with folder_lock(folder):
        marker = folder / PARTIAL_NAME
        unfinished = marker.exists() and marker.read_text().strip() == stage
        existing = [p for p in folder.iterdir() if p.name not in (LOCK_NAME, PARTIAL_NAME)]
        if existing and not (overwrite or unfinished or resume):
            raise UsageError(f"{folder}: output folder is not empty (use --overwrite to replace it)")
        marker.write_text(stage + "\n")
        for path in [] if resume else existing:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        try:
            yield folder
        except BaseException:
            if created and {p.name for p in folder.iterdir()} <= {LOCK_NAME, PARTIAL_NAME}:
                shutil.rmtree(folder)  # refused before writing anything: leave no trace
            raise
        marker.unlink()
