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
- `--overwrite` only ever removes what framegen wrote, at every depth: `.framegen-written` lists every file
  and subfolder a finished run of the stage wrote there (and what `filter` added beside the frames; a stage
  writing into subfolders adds to it as it writes); a folder that holds anything else (the user's files, at
  any depth, or a folder from an older framegen) is refused by name, with --overwrite too;
- framegen's own files there (marker, lock, list) are never written through a planted link;
- a folder that holds an earlier run's output is refused unless --overwrite;
- a `.framegen-partial` marker lives in the folder until the stage has written its manifest, so a run that
  was killed is recognised and simply redone by the next run, with no --overwrite needed (what lies at its
  top was written by that run: the folder held nothing else when it started; below, what it listed);
- a stage that fails before writing anything removes the folder it created.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

from framegen.core.errors import InputError, UsageError
from framegen.core.files import open_no_link, refuse_link
from framegen.core.manifest import atomic_write_bytes, reported_as

LOCK_NAME = ".framegen.lock"
PARTIAL_NAME = ".framegen-partial"
WRITTEN_NAME = ".framegen-written"  # the stage's name, then one name a line: what it wrote into the folder
BOOKKEEPING = (LOCK_NAME, PARTIAL_NAME, WRITTEN_NAME)
TEMPORARY = re.compile(r"\..+\.tmp")  # a temporary file of framegen's atomic writes that a kill left behind

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
        lock_file = open_no_link(folder / LOCK_NAME, "a")
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
        unfinished = bookkeeping_text(marker).strip() == stage
        existing = contents(folder)
        ours = written_here(folder, stage, existing, unfinished)
        foreign = [p for p in existing if p not in ours]
        if resume:  # it writes into what the folder holds: no link in it may lead elsewhere
            for path in existing:
                refuse_link(folder / path)
        if foreign and not resume:
            named = outermost(foreign)
            shown = ", ".join(named[:3]) + (f" and {len(named) - 3} more" if len(named) > 3 else "")
            raise UsageError(f"{folder}: holds {shown}, which framegen did not write as `{stage}` output; "
                             "--overwrite only replaces what framegen wrote: move it away, or choose another "
                             "output folder")
        if existing and not (overwrite or unfinished or resume):
            raise UsageError(f"{folder}: output folder is not empty (use --overwrite to replace it)")
        with reported_as(folder):  # a full disk names the folder, not the hidden marker
            atomic_write_bytes(marker, (stage + "\n").encode())
            if not resume:
                remove_written(folder, existing)
                atomic_write_bytes(folder / WRITTEN_NAME, (stage + "\n").encode())  # a journal while it runs
        try:
            yield folder
        except BaseException:
            if created and {p.name for p in folder.iterdir()} <= set(BOOKKEEPING):
                shutil.rmtree(folder)  # refused before writing anything: leave no trace
            raise
        record_written(folder, stage, [p for p in contents(folder) if p not in foreign])
        marker.unlink()


def written_here(folder: Path, stage: str, existing: list[str], unfinished: bool) -> set[str]:
    """Which of `existing` (paths in `folder`) framegen wrote as `stage` output: what `.framegen-written` lists,
    the temporary files of its atomic writes, and in a folder a killed run left (`unfinished`) what lies at
    its top. A finished list without subfolder paths (framegen listed only the top level before) covers
    the subfolders it names whole."""
    listed = written_by(folder, stage)
    ours = listed | {p for p in existing if TEMPORARY.fullmatch(Path(p).name)}
    if unfinished:
        ours |= {p for p in existing if "/" not in p}
    elif not any("/" in p for p in listed):
        ours |= {p for p in existing if p.split("/")[0] in listed}
    return ours


def contents(folder: Path) -> list[str]:
    """Every file and folder under `folder` (not through links), as relative POSIX paths, parents first;
    framegen's own bookkeeping files at the top are left out."""
    found = []
    for parent, folders, files in os.walk(folder):
        relative = Path(parent).relative_to(folder)
        names = sorted(folders + files) if parent != str(folder) else \
            sorted(name for name in folders + files if name not in BOOKKEEPING)
        found += [(relative / name).as_posix() for name in names]
    return sorted(found)


def outermost(paths: list[str]) -> list[str]:
    """`paths` without those that lie inside another of them (a foreign folder names its whole content)."""
    return [p for p in paths if not any(p.startswith(other + "/") for other in paths)]


def remove_written(folder: Path, paths: list[str]) -> None:
    """Remove `paths` (all of them framegen's), deepest first: files, links, then the emptied folders."""
    for path in sorted(paths, reverse=True):
        target = Path(folder) / path
        target.rmdir() if target.is_dir() and not target.is_symlink() else target.unlink(missing_ok=True)


def check_apart_from_inputs(folder: Path, inputs: Iterable[Path]) -> None:
    """UsageError if the output `folder` is, holds or lies inside one of `inputs`."""
    target = Path(folder).resolve()
    for given in inputs:
        source = Path(given).resolve()
        if target == source or source.is_relative_to(target) or target.is_relative_to(source):
            relation = "is" if target == source else "holds" if source.is_relative_to(target) else "lies inside"
            raise UsageError(f"{folder}: the output folder {relation} the input {given}; "
                             "choose an output folder apart from the inputs")


def bookkeeping_text(path: Path) -> str:
    """The text of one of framegen's own files in a folder ("" when absent or unreadable); a link or a
    non-file (a FIFO would block the read) planted under its name is refused."""
    refuse_link(path)
    if not path.exists():
        return ""
    if not path.is_file():
        raise UsageError(f"{path}: is not a file, so framegen did not write it; remove it, or choose another "
                         "output folder")
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return ""


def written_by(folder: Path, stage: str) -> set[str]:
    """Names in `folder` that a finished run of `stage` (and stages adding to its folder) recorded writing."""
    lines = bookkeeping_text(Path(folder) / WRITTEN_NAME).splitlines()
    return set(lines[1:]) if lines and lines[0] == stage else set()


def record_written(folder: Path, stage: str, paths: Iterable[str]) -> None:
    """Add `paths` (relative to `folder`, POSIX) to what framegen wrote into `folder` as the output of `stage`
    (see `stage_output`); a stage that writes into subfolders records each file as it writes it, so that a
    rerun after a kill knows them from what a user put there."""
    folder = Path(folder)
    known = written_by(folder, stage)
    text = "\n".join([stage, *sorted(known | set(paths))]) + "\n"
    with reported_as(folder):
        atomic_write_bytes(folder / WRITTEN_NAME, text.encode())


def check_output_file(output: Path, inputs: Iterable[Path], overwrite: bool = False,
                      is_earlier_output: Callable[[Path], bool] = lambda path: False, example: str = "out.gif") -> None:
    """UsageError unless the single file `output` may be written: never a folder, one of `inputs` or a file
    inside an input folder (also through a link), with --overwrite too; an existing file only when
    `is_earlier_output` says it is an earlier output of the same kind (a regular file), or with --overwrite."""
    output = Path(output)
    if output.is_dir():
        raise UsageError(f"{output}: is a folder; give the file to write, e.g. {output / example}")
    for source in map(Path, inputs):
        if output.exists() and source.exists() and os.path.samefile(output, source):
            alias = "" if str(output) == str(source) else f" ({source})"
            raise UsageError(f"{output}: is one of the inputs{alias}; writing it would replace it, so choose "
                             "another output path with -o")
        if source.is_dir() and output.resolve().is_relative_to(source.resolve()):
            raise UsageError(f"{output}: lies inside the input folder {source}; writing it could replace one of "
                             "its files, so choose an output path outside it with -o")
    if (output.exists() or output.is_symlink()) and not overwrite and \
            not (output.is_file() and is_earlier_output(output)):
        raise UsageError(f"{output}: exists and is not framegen's earlier output of this kind; choose another "
                         "path with -o, or add --overwrite to replace it")


