"""Manifests: the JSON file each stage writes last, and the next stage reads first.

Every manifest carries `schema` + integer `schema_version`, the framegen version, the command line, the
resolved parameters and a reference to its upstream manifest (path relative to this manifest's folder,
plus sha256). Paths inside a manifest are relative so a folder can be moved; a reader resolves them with
`resolve_inside`, which refuses anything that points outside the folder. Writes are atomic (temp file +
os.replace), so an interrupted stage never leaves a half-written manifest.

Each stage defines its own manifest model next to its code (extract.py, scenes.py, dataset.py, ...), as a
subclass of `Manifest` with its `SCHEMA` and `SCHEMA_VERSION`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import secrets
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Iterator, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from framegen import __version__
from framegen.core.errors import InputError, first_validation_error
from framegen.core.files import check_regular_file

MANIFEST_NAME = "manifest.json"
MAX_MANIFEST_BYTES = 256 << 20  # far above any manifest framegen writes
WRITTEN_BY = {"framegen/frames": "extract", "framegen/filter": "filter", "framegen/dataset": "build-dataset"}


PIPELINE = ("framegen/frames", "framegen/dataset")  # the folders the stages chain, in order


def earlier_stage(folder: Path, found: Any, expected: str) -> str:
    """The error for a `folder` that holds an earlier stage's output than the one expected (the next step to
    run); "" otherwise."""
    if found not in PIPELINE or expected not in PIPELINE or PIPELINE.index(found) >= PIPELINE.index(expected):
        return ""
    name, wanted = found.split("/")[1], expected.split("/")[1]
    return (f"{folder}: a {name} folder (what `framegen {WRITTEN_BY[found]}` writes), not a {wanted}: run "
            f"`framegen {WRITTEN_BY[expected]} {folder}` first, then give the folder it writes")


class UpstreamRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str  # relative to the folder of the manifest that holds this reference
    sha256: str


class Manifest(BaseModel):
    """Fields every stage's manifest shares. Subclasses set SCHEMA and SCHEMA_VERSION."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    SCHEMA: ClassVar[str] = "framegen/manifest"
    SCHEMA_VERSION: ClassVar[int] = 1

    schema_name: str = Field(alias="schema")
    schema_version: int
    framegen_version: str
    created: str
    command: list[str]
    parameters: dict[str, Any]
    upstream: UpstreamRef | None = None

    @classmethod
    def header(cls, parameters: dict[str, Any], upstream: UpstreamRef | None = None) -> dict[str, Any]:
        """The shared fields for a new manifest of this stage, filled from the running process."""
        return dict(
            schema=cls.SCHEMA,
            schema_version=cls.SCHEMA_VERSION,
            framegen_version=__version__,
            created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            command=list(sys.argv),
            parameters=parameters,
            upstream=upstream,
        )


M = TypeVar("M", bound=Manifest)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """A new empty temporary file beside `path`, to write in the block; it replaces `path` when the block ends
    (os.replace: readers see the old file or the new one, never a torn one) and is removed on any error.

    Its name is chosen before it is created, so that a Ctrl-C arriving just as it is created, before any
    name could be returned (tempfile.mkstemp's weak spot), still removes it. Created with mode 0666 less the
    umask, the permissions of any file the user makes.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except OSError as e:  # a read-only folder: name the file asked for, not the temporary one
            raise OSError(e.errno, e.strerror, str(path)) from None
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (atomic_output), flushed to disk before it replaces `path`."""
    with reported_as(path), atomic_output(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


@contextmanager
def reported_as(path: Path) -> Iterator[None]:
    """An OSError in the block (disk full, read-only folder) names `path`, the file the user asked for,
    not the temporary file it was written through, nor no file at all."""
    try:
        yield
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from None


def write_manifest(manifest: Manifest, folder: Path, name: str = MANIFEST_NAME) -> Path:
    path = Path(folder) / name
    text = manifest.model_dump_json(by_alias=True, indent=2)
    atomic_write_bytes(path, text.encode() + b"\n")
    return path


def manifest_path(path: Path, name: str = MANIFEST_NAME) -> Path:
    """`path` may be the manifest file itself or the folder that holds it."""
    path = Path(path)
    return path / name if path.is_dir() else path


def is_manifest_of(path: Path, schema: str) -> bool:
    """Whether the regular file `path` is a framegen JSON file of `schema` (an earlier output of that kind)."""
    try:
        if Path(path).stat().st_size > MAX_MANIFEST_BYTES:
            return False
        data = json.loads(Path(path).read_bytes())
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("schema") == schema


def check_schema(file: Path, data: Any, schema: str, version: int, kind: str = "file", advice: str = "") -> None:
    """One InputError line unless the JSON `data` read from `file` is of `schema` at `version`."""
    if not isinstance(data, dict):
        raise InputError(f"{file}: not a framegen {kind}")
    if data.get("schema") != schema:
        raise InputError(earlier_stage(Path(file).parent, data.get("schema"), schema)
                         or f"{file}: expected a {schema} {kind}, found {data.get('schema')!r}")
    if data.get("schema_version") != version:
        raise InputError(f"{file}: {schema} schema_version {data.get('schema_version')!r} is not supported by "
                         f"framegen {__version__} (it reads version {version}){advice}")


def read_manifest(cls: type[M], path: Path, name: str = MANIFEST_NAME) -> M:
    """Load and validate a manifest of stage `cls`; every failure is one clear InputError line."""
    file = manifest_path(path, name)
    if not file.exists():
        stage = WRITTEN_BY.get(cls.SCHEMA)
        run_first = f"run `framegen {stage}` first" if stage else "run the previous stage first"
        raise InputError(f"{file}: no {cls.SCHEMA} manifest here ({run_first})")
    check_regular_file(file, "a JSON manifest")
    try:
        data = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{file}: not a readable JSON manifest ({e})") from None
    except RecursionError:
        raise InputError(f"{file}: not a framegen manifest (nested too deeply to read)") from None
    check_schema(file, data, cls.SCHEMA, cls.SCHEMA_VERSION, "manifest", "; rerun the stage that wrote it "
                 "with this framegen, or use the framegen version that wrote it")
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        where, what = first_validation_error(e)
        raise InputError(f"{file}: invalid manifest field {where or '(top level)'}: {what}") from None


def resolve_inside(folder: Path, relative: str) -> Path:
    """Resolve a path read from a manifest; refuse one that leaves the manifest's folder."""
    root = Path(folder).resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise InputError(f"{folder}: manifest path {relative!r} points outside its folder; refusing it")
    return target


def upstream_ref(folder: Path, upstream_manifest: Path) -> UpstreamRef:
    """Reference from a manifest written in `folder` to the upstream manifest file it was made from."""
    upstream_manifest = Path(upstream_manifest).resolve()
    relative = os.path.relpath(upstream_manifest, Path(folder).resolve())
    return UpstreamRef(path=Path(relative).as_posix(), sha256=sha256_file(upstream_manifest))


def check_upstream(manifest: Manifest, folder: Path) -> Path:
    """Verify that the upstream manifest is still the one this manifest was made from; return its path."""
    if manifest.upstream is None:
        raise InputError(f"{folder}: manifest has no upstream reference")
    path = (Path(folder) / manifest.upstream.path).resolve()
    if not path.exists():
        raise InputError(f"{folder}: upstream manifest {manifest.upstream.path} is missing")
    check_regular_file(path, "a JSON manifest")
    if sha256_file(path) != manifest.upstream.sha256:
        raise InputError(
            f"{folder}: upstream manifest {manifest.upstream.path} changed since this stage ran "
            "(sha256 differs); rerun this stage with --overwrite"
        )
    return path
