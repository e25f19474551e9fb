"""Options shared by several commands: the scene detectors' (filter, and interpolate's video mode, which runs
the same detectors); and how interpolate and evaluate let `auto` fetch weights."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import typer

CUT_THRESHOLD = typer.Option(
    None, "--cut-threshold", help="content: minimum mean RGB difference (0-255) for a cut. \\[default: 20]"
)
CUT_RATIO = typer.Option(
    None, "--cut-ratio", help="content: a cut also scores this many times its neighbours. \\[default: 3]"
)
RATIO_WINDOW = typer.Option(
    None, "--ratio-window", help="content: neighbours on each side that a cut is compared with. \\[default: 2]"
)
MIN_SHOT_FRAMES = typer.Option(None, "--min-shot-frames", help="Shortest shot, in frames. \\[default: 8]")
HOLD_THRESHOLD = typer.Option(
    None, "--hold-threshold", help="Pixel difference (0-255) that tells a new drawing from a held one. "
    "\\[default: 16]",
)


def in_panel(option, panel: str):
    """A copy of a shared option shown under `panel` in one command's --help."""
    shown = copy.copy(option)
    shown.rich_help_panel = panel
    return shown


def detector_flags(detector, cut_threshold, cut_ratio, ratio_window, min_shot_frames, hold_threshold) -> dict[str, Any]:
    """The flags of the shared detector options, by FilterConfig field."""
    return dict(detector=detector, cut_threshold=cut_threshold, cut_ratio=cut_ratio, ratio_window=ratio_window,
                min_shot_frames=min_shot_frames, hold_threshold=hold_threshold)




def fetch_weights(name: str) -> Path:
    """`auto`'s fetch (engines.get_engine): `framegen weights fetch NAME`'s code, imported only when `auto`
    has to fetch, so flow and blend start without torch."""
    from framegen.core.stages import weights

    return weights.fetch(name)
