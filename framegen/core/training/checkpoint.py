"""Training checkpoints and exported inference weights.

Checkpoints (RUN/checkpoints/, timm CheckpointSaver / nanoGPT style):
    step-00000500.pt   every `checkpoint_every` steps and at each epoch's end; the newest `keep` are kept
    last.pt            the newest checkpoint (a hard link to it: no extra disk space)
    best.pt            the checkpoint with the best validation PSNR (a hard link too)
A checkpoint is a dict of tensors and primitives only (model, optimizers, scalers, EMA, step, epoch,
position in the epoch, RNG states, the full config), so `torch.load(weights_only=True)` reads it and never
runs code. Files are written to a temporary name and renamed (os.replace), so a kill -9 leaves the
previous checkpoint intact.

Exported inference weights (RUN/export/, see notes MODEL_API.md): model.safetensors (the generator; its
EMA weights when EMA is on) + model.json (arch, generator config, validation numbers, recipe). Loading
them never unpickles.
"""

from __future__ import annotations

import os
import pickle
import random
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from framegen import __version__
from framegen.core.errors import InputError, first_line
from framegen.core.files import make_folder
from framegen.core.manifest import atomic_output

CHECKPOINT_FORMAT = "framegen/checkpoint"
CHECKPOINT_VERSION = 1


# ---------------------------------------------------------------------------------------------- RNG


def rng_state() -> dict[str, Any]:
    """torch (CPU and CUDA), numpy and python RNG states, as tensors and primitives."""
    _, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "python": random.getstate(),
    }


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["position"], n["has_gauss"],
                         n["cached_gaussian"]))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


# ---------------------------------------------------------------------------------------------- checkpoints


class _WriteErrorKeeper:
    """A file for torch.save that keeps the OSError of a failed write: torch turns it into a bare
    RuntimeError ("unexpected pos ..."), which would hide a full disk."""

    def __init__(self, file):
        self.file = file
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            return self.file.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self.file.flush()


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save `state` (tensors and primitives) atomically (manifest.atomic_output)."""
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        keeper = _WriteErrorKeeper(f)
        try:
            torch.save({"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION, **state}, keeper)
        except RuntimeError:
            if keeper.error is None:
                raise
            raise OSError(keeper.error.errno, keeper.error.strerror, str(path)) from None  # exit 3
        f.flush()
        os.fsync(f.fileno())


def load_checkpoint(path: Path, arch: str | None = None, mmap: bool = False) -> dict[str, Any]:
    """Load a framegen checkpoint without running any code (weights_only); refuse anything else.

    `arch`: refuse a checkpoint of another arch. `mmap`: map the tensors lazily (cheap config reads).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError:
        raise InputError(f"{path}: not a framegen checkpoint (it holds objects other than tensors and "
                         "plain values; refusing to unpickle it)") from None
    except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile) as e:
        raise InputError(f"{path}: truncated or corrupt checkpoint ({first_line(e)})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{path}: not a framegen checkpoint")
    if state.get("format_version") != CHECKPOINT_VERSION:
        raise InputError(f"{path}: checkpoint format_version {state.get('format_version')!r} is not supported "
                         f"by framegen {__version__} (it reads version {CHECKPOINT_VERSION})")
    if arch is not None and state["arch"] != arch:
        raise InputError(f"{path}: checkpoint is of arch {state['arch']!r}, not {arch!r}")
    return state


def _link_or_copy(source: Path, target: Path) -> None:
    """Make `target` the same file as `source`, atomically (hard link; a copy where links fail)."""
    tmp = target.with_name(f".{target.name}.link.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


class CheckpointSaver:
    """Writes step checkpoints into `folder`, keeps the newest `keep`, maintains last.pt and best.pt."""

    def __init__(self, folder: Path, keep: int):
        self.folder = Path(folder)
        self.keep = keep
        make_folder(self.folder)
        for stale in self.folder.glob(".*.tmp"):  # a write that a kill -9 interrupted
            stale.unlink()

    @property
    def last(self) -> Path:
        return self.folder / "last.pt"

    @property
    def best(self) -> Path:
        return self.folder / "best.pt"

    def save(self, state: dict[str, Any], step: int, is_best: bool) -> Path:
        path = self.folder / f"step-{step:08d}.pt"
        save_checkpoint(path, state)
        _link_or_copy(path, self.last)
        if is_best:
            _link_or_copy(path, self.best)
        for old in sorted(self.folder.glob("step-*.pt"))[: -self.keep or None]:
            old.unlink()
        return path


# ---------------------------------------------------------------------------------------------- export














