"""Tiny models and weights: a tiny mipal export, random RIFE weights installed in the published layout (no
download), and a pickle that runs code when it is loaded."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch

from framegen.core.models.export import ExportMetadata, export_model
from framegen.core.models.registry import build_generator
from framegen.core.models.store import weights_home
from framegen.core.stages import weights

TINY_MIPAL = {"width": 0.125, "refiner_depth": 3}


def save_published(path: Path, network, prefix: str, extras: list[str]) -> Path:
    """torch.save a network's tensors as a published flownet.pkl: a name prefix, training-only extras."""
    state = {f"{prefix}{name}": tensor for name, tensor in network.state_dict().items()}
    state.update({f"{prefix}{name}": torch.ones(2, 2) for name in extras})
    torch.save(state, path)
    return path


def install_random_rife(arch: str, name: str, folder: Path, seed: int = 0, std: float | None = None) -> Path:
    """Install random weights of `arch` (rife4 / rife3hd) in the published layout, saved as FOLDER/NAME.pkl,
    as weights NAME in the test's $FRAMEGEN_HOME (no download); the export folder. std: draw every weight
    from N(0, std) (small weights: a network that makes some picture) instead of the network's own init.

    The first call for an arch, seed and std imports the file with `weights.import_file`, which builds,
    loads, exports and reloads the network; later calls copy what that import installed (its source still
    names the first file) unless NAME is already installed, where the import's own rules decide."""
    file = Path(folder) / f"{name}.pkl"
    target = weights_home() / name
    first = FIRST_INSTALLS.get((arch, seed, std))
    if first is not None and not target.exists():
        shutil.copyfile(first / "published.pkl", file)
        shutil.copytree(first / "export", target)
        return target
    torch.manual_seed(seed)
    network = build_generator(arch, {})
    if std is not None:
        torch.manual_seed(seed)
        for param in network.parameters():
            param.data.normal_(0, std)
    installed = weights.import_file(save_published(file, network, "module.", ["teacher.x"]), name)
    if first is None:
        kept = Path(tempfile.mkdtemp(prefix=f"{arch}-", dir=FIRST_INSTALLS_DIR.name))
        shutil.copyfile(file, kept / "published.pkl")
        shutil.copytree(installed, kept / "export")
        FIRST_INSTALLS[(arch, seed, std)] = kept
    return installed


FIRST_INSTALLS: dict[tuple[str, int, float | None], Path] = {}  # (arch, seed, std) -> the first import's files
FIRST_INSTALLS_DIR = tempfile.TemporaryDirectory(prefix="framegen-tests-weights-")  # removed at exit


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
