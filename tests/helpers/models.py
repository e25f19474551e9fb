"""Tiny models and weights: a tiny mipal export, random RIFE weights installed in the published layout (no
download), and a pickle that runs code when it is loaded."""

from __future__ import annotations

from pathlib import Path

import torch

from framegen.core.models.export import ExportMetadata, export_model
from framegen.core.models.registry import build_generator
from framegen.core.stages import weights

TINY_MIPAL = {"width": 0.125, "refiner_depth": 3}


def save_published(path: Path, network, prefix: str, extras: list[str]) -> Path:
    """torch.save a network's tensors as a published flownet.pkl: a name prefix, training-only extras."""
    state = {f"{prefix}{name}": tensor for name, tensor in network.state_dict().items()}
    state.update({f"{prefix}{name}": torch.ones(2, 2) for name in extras})
    torch.save(state, path)
    return path


def install_random_rife(arch: str, name: str, folder: Path, seed: int = 0) -> Path:
    """Install random weights of `arch` (rife4 / rife3hd) in the published layout as weights NAME in the
    test's $FRAMEGEN_HOME (no download); the export folder."""
    torch.manual_seed(seed)
    file = save_published(folder / f"{name}.pkl", build_generator(arch, {}), "module.", ["teacher.x"])
    return weights.import_file(file, name)


def export_tiny(folder, beats_flow: bool | None, **metadata):
    """A tiny mipal export whose metadata says `beats_flow` (and any other ExportMetadata field)."""
    model = build_generator("mipal", TINY_MIPAL)
    return export_model(folder, "mipal", TINY_MIPAL, model.state_dict(),
                        ExportMetadata(beats_flow=beats_flow, **metadata))


class Exploit:
    """Unpickling this runs code: it creates the file `path`."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))
