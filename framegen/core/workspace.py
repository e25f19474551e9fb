"""The default workspace and the rules every stage follows when it writes a folder.

Default workspace: `./framegen-work/` in the current directory (override with FRAMEGEN_WORKSPACE).
    framegen-work/frames/    extract (+ filter's manifest beside the frames)
    framegen-work/dataset/   build-dataset
    framegen-work/run/       train
A stage whose input is left out reads the previous stage's folder there; a stage whose output is left
out writes there. Explicit paths always win.

Writing a stage's folder (`stage_output`):
- an output folder that is, holds or lies inside one of the stage's inputs (the movie, the frames folder,
  interpolate's images) is refused: clearing it could delete them;
- the folder is locked (fcntl) while the stage runs: a second framegen on the same folder refuses;
- `--overwrite` only ever removes what framegen wrote: `.framegen-written` lists what a finished run of the
  stage wrote there (and what `filter` added beside the frames); a folder that holds anything else (the
  user's files or subfolders, or a folder from an older framegen) is refused, with --overwrite too;
- a folder that holds an earlier run's output is refused unless --overwrite;
- a `.framegen-partial` marker lives in the folder until the stage has written its manifest, so a run that
  was killed is recognised and simply redone by the next run, with no --overwrite needed (all it holds
  was written by that run: the folder held nothing else when it started);
- a stage that fails before writing anything removes the folder it created.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from framegen.core.errors import InputError, UsageError
from framegen.core.manifest import atomic_write_bytes, reported_as

LOCK_NAME = ".framegen.lock"
PARTIAL_NAME = ".framegen-partial"
WRITTEN_NAME = ".framegen-written"  # the stage's name, then one name a line: what it wrote into the folder
BOOKKEEPING = (LOCK_NAME, PARTIAL_NAME, WRITTEN_NAME)

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
        raise InputError(f"{folder}: is a file, expected the folder `framegen {WRITTEN_BY[stage]}` writes"
                         + (f" (a movie? `framegen extract {folder}` first)" if stage == "frames" else ""))
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
def stage_output(folder: Path, stage: str, overwrite: bool, resume: bool = False,
                 inputs: Iterable[Path] = ()) -> Iterator[Path]:
    """Lock `folder`, check it may be written, clear what framegen wrote there before, mark it partial;
    when the body finishes, record what it wrote and unmark it.

    `resume`: keep what the folder holds (a stage that continues its own earlier, e.g. killed, run).
    `inputs`: the files and folders the stage reads, which the output folder must keep clear of.

    The body writes its manifest last; if it raises (or the process is killed), the marker stays, the
    manifest is absent, and the next run of the same stage redoes it without needing --overwrite.
    """
    folder = Path(folder)
    check_apart_from_inputs(folder, inputs)
    created = not folder.exists()
    with folder_lock(folder):
        marker = folder / PARTIAL_NAME
        unfinished = marker.exists() and marker.read_text().strip() == stage
        existing = [p for p in folder.iterdir() if p.name not in BOOKKEEPING]
        ours = {p.name for p in existing} if unfinished else written_by(folder, stage)
        foreign = sorted(p.name for p in existing if p.name not in ours)
        if foreign and not resume:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise UsageError(f"{folder}: holds {shown}, which framegen did not write as `{stage}` output; "
                             "--overwrite only replaces what framegen wrote: choose another output folder")
        if existing and not (overwrite or unfinished or resume):
            raise UsageError(f"{folder}: output folder is not empty (use --overwrite to replace it)")
        with reported_as(folder):  # a full disk names the folder, not the hidden marker
            marker.write_text(stage + "\n")
        (folder / WRITTEN_NAME).unlink(missing_ok=True)
        for path in [] if resume else existing:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        try:
            yield folder
        except BaseException:
            if created and {p.name for p in folder.iterdir()} <= set(BOOKKEEPING):
                shutil.rmtree(folder)  # refused before writing anything: leave no trace
            raise
        record_written(folder, stage, [p.name for p in folder.iterdir() if p.name not in (*BOOKKEEPING, *foreign)])
        marker.unlink()


def check_apart_from_inputs(folder: Path, inputs: Iterable[Path]) -> None:
    """UsageError if the output `folder` is, holds or lies inside one of `inputs`."""
    target = Path(folder).resolve()
    for given in inputs:
        source = Path(given).resolve()
        if target == source or source.is_relative_to(target) or target.is_relative_to(source):
            relation = "is" if target == source else "holds" if source.is_relative_to(target) else "lies inside"
            raise UsageError(f"{folder}: the output folder {relation} the input {given}; "
                             "choose an output folder apart from the inputs")


def written_by(folder: Path, stage: str) -> set[str]:
    """Names in `folder` that a finished run of `stage` (and stages adding to its folder) recorded writing."""
    try:
        lines = (Path(folder) / WRITTEN_NAME).read_text().splitlines()
    except (OSError, UnicodeDecodeError):
        return set()
    return set(lines[1:]) if lines and lines[0] == stage else set()


def record_written(folder: Path, stage: str, names: Iterable[str]) -> None:
    """Add `names` to what framegen wrote into `folder` as the output of `stage` (see `stage_output`)."""
    folder = Path(folder)
    known = written_by(folder, stage)
    text = "\n".join([stage, *sorted(known | set(names))]) + "\n"
    with reported_as(folder):
        atomic_write_bytes(folder / WRITTEN_NAME, text.encode())


def check_not_an_input(output: Path, inputs: Iterable[Path]) -> None:
    """UsageError when `output` is a folder or the very file of one of `inputs` (also through a link)."""
    output = Path(output)
    if output.is_dir():
        raise UsageError(f"{output}: is a folder; give the animation file to write, e.g. {output / 'out.gif'}")
    for source in inputs:
        if output.exists() and Path(source).exists() and os.path.samefile(output, source):
            alias = "" if str(output) == str(source) else f" ({source})"
            raise UsageError(f"{output}: is one of the inputs{alias}; writing it would replace it, so choose "
                             "another output path with -o")


