"""`framegen interpolate`: in-between frames for two images (an animation) or a movie (a higher frame rate)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from framegen import console
from framegen.commands import options
from framegen.core import workspace
from framegen.core.config import resolve_config
from framegen.core.errors import UsageError

log = logging.getLogger(__name__)

NAME = "interpolate"


# --help's panels; every option's details are in docs/commands.md#interpolate
PAIR, MOVIE, ENGINE = "Two images", "A movie", "Engine"
CUTS = "A movie: cuts and held frames, found as by `framegen filter`"


def run(
    inputs: list[Path] = typer.Argument(
        ..., help="Two images A B, or one MOVIE (told apart by content)."
    ),
    output: Optional[Path] = typer.Option(
        None, "-o", "--output", help=".gif .webp .png (APNG) .mp4 \\[default: framegen-work/interpolated.gif, "
        ".mp4 for a movie]",
    ),
    fps: Optional[float] = typer.Option(
        None, "--fps", help="Frames/s \\[default: 12]; for a movie, its new rate."
    ),
    loop: Optional[int] = typer.Option(
        None, "--loop", help="Plays; 0 = forever. \\[default: 0]"
    ),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file of options (flags win)."),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an -o file framegen did not write, or a full --frames-dir."
    ),
    frames: Optional[int] = typer.Option(
        None, "--frames", help="In-betweens. \\[default: 6]", rich_help_panel=PAIR
    ),
    times: Optional[str] = typer.Option(
        None, "--times", help="Or their times: 0.25,0.5,0.75", rich_help_panel=PAIR
    ),
    pingpong: Optional[bool] = typer.Option(
        None, "--pingpong/--no-pingpong", help="Play A..B..A. \\[default: off]", rich_help_panel=PAIR
    ),
    frames_dir: Optional[Path] = typer.Option(
        None, "--frames-dir", help="Also write DIR/000.png, 001.png...", rich_help_panel=PAIR
    ),
    factor: Optional[int] = typer.Option(
        None, "--factor", help="Rate x FACTOR, 2-16. \\[default: 2]", rich_help_panel=MOVIE
    ),
    start: Optional[float] = typer.Option(
        None, "--start", help="Start at this second. \\[default: 0]", rich_help_panel=MOVIE
    ),
    end: Optional[float] = typer.Option(
        None, "--end", help="Stop before this second. \\[default: the end]", rich_help_panel=MOVIE
    ),
    adapt: Optional[bool] = typer.Option(
        None, "--adapt/--no-adapt", help="Fit the network to each shot first. \\[default: off]",
        rich_help_panel=MOVIE,
    ),
    adapt_steps: Optional[int] = typer.Option(
        None, "--adapt-steps", help="Steps per shot. \\[default: 10]", rich_help_panel=MOVIE
    ),
    engine: Optional[str] = typer.Option(
        None, "--engine", help="auto, flow, model, blend, minterpolate. \\[default: auto]", rich_help_panel=ENGINE,
    ),
    checkpoint: Optional[Path] = typer.Option(
        None, "--checkpoint", help="Installed weights NAME (rife4, rife3hd), or an export or run folder.",
        rich_help_panel=ENGINE,
    ),
    device: Optional[str] = typer.Option(
        None, "--device", help="auto | cpu | cuda. \\[default: auto]", rich_help_panel=ENGINE
    ),
    ensemble: Optional[bool] = typer.Option(
        None, "--ensemble/--no-ensemble", help="Mean of 3 passes: 3x the time. \\[default: off]",
        rich_help_panel=ENGINE,
    ),
    detector: Optional[str] = typer.Option(
        None, "--detector", help="content only here. \\[default: content]", rich_help_panel=CUTS
    ),
    cut_threshold: Optional[float] = options.in_panel(options.CUT_THRESHOLD, CUTS),
    cut_ratio: Optional[float] = options.in_panel(options.CUT_RATIO, CUTS),
    ratio_window: Optional[int] = options.in_panel(options.RATIO_WINDOW, CUTS),
    min_shot_frames: Optional[int] = options.in_panel(options.MIN_SHOT_FRAMES, CUTS),
    hold_threshold: Optional[float] = options.in_panel(options.HOLD_THRESHOLD, CUTS),
) -> None:
    """Interpolate between two images A B into an animation, or raise the frame rate of a MOVIE.

    Examples:
        framegen interpolate a.png b.png -o out.gif --frames 10
        framegen interpolate movie.mp4 --factor 2 -o smooth.mp4

    A movie keeps every frame and its sound, and never morphs across a scene cut. The format comes from
    -o's suffix. Every option in detail: docs/commands.md#interpolate.
    """
    from framegen.core.engines import get_engine
    from framegen.core.stages.interpolate import input_mode, interpolate_pair, interpolate_video

    settings = interpolate_settings(
        config, detector_flags=options.detector_flags(detector, cut_threshold, cut_ratio, ratio_window,
                                                      min_shot_frames, hold_threshold),
        flags=dict(engine=engine, checkpoint=checkpoint, device=device, frames=frames, times=parse_times(times),
                   fps=fps, factor=factor, start=start, end=end, loop=loop, pingpong=pingpong, ensemble=ensemble,
                   adapt=adapt),
        adapt_steps=adapt_steps,
    )
    video = input_mode(inputs) == "video"
    if output is None:
        output = workspace.workspace() / ("interpolated.mp4" if video else "interpolated.gif")
        output.parent.mkdir(parents=True, exist_ok=True)
    if video and frames_dir is not None:
        raise UsageError("--frames-dir is for two images, not for a movie")
    if settings.adapt and not video:
        raise UsageError("--adapt is for a movie: the network adapts to each of its shots")
    interpolator = get_engine(settings.engine, settings.checkpoint, settings.device, options.fetch_weights)
    log.debug(f"engine: {interpolator.name}")
    if video:
        result = interpolate_video(inputs[0], output, interpolator, settings, overwrite)
        console.result(
            f"wrote {output}: {console.count(result.output_frames, 'frame')} at {float(result.output_fps):g} fps from "
            f"{result.input_frames} at {float(result.input_fps):g} fps ({interpolator.name} engine; "
            f"{console.count(len(result.cuts), 'scene cut')} held, not morphed; "
            f"{console.count(result.held, 'held frame')})"
        )
        if result.adaptation:
            console.result(adaptation_summary(result.adaptation))
        return
    pair = interpolate_pair(inputs[0], inputs[1], output, interpolator, settings, frames_dir, overwrite)
    console.result(
        f"wrote {output}: {console.count(pair.frames, 'frame')} of {pair.width}x{pair.height} "
        f"{'RGBA' if pair.channels == 4 else 'RGB'} ({interpolator.name} engine)"
    )
    if frames_dir is not None:
        console.result(f"wrote {pair.frames} PNG frames to {frames_dir}")


def interpolate_settings(config: Path | None, flags: dict, detector_flags: dict, adapt_steps: int | None):
    """InterpolateConfig from the flags over the --config file, its [filter] and [adaptation] tables too."""
    from framegen.core.scenes import FilterConfig
    from framegen.core.stages.interpolate import InterpolateConfig
    from framegen.core.training.adapt_config import AdaptConfig

    settings = resolve_config(InterpolateConfig, flags, config)
    detection = resolve_config(FilterConfig, detector_flags, base=settings.filter.model_dump())  # flags over file
    adaptation = resolve_config(AdaptConfig, dict(steps=adapt_steps), base=settings.adaptation.model_dump(),
                                flag_names={"steps": "--adapt-steps"})
    return settings.model_copy(update={"filter": detection, "adaptation": adaptation})


def parse_times(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"--times: expected numbers separated by commas, got {text!r}") from None


def adaptation_summary(reports) -> str:
    """One line: how many shots adapted, kept, skipped, and the time it took."""
    adapted = [r for r in reports if not r.skipped]
    kept = sum(r.kept for r in adapted)
    seconds = sum(r.seconds for r in adapted)
    return (f"adapted {len(adapted)} of {len(reports)} shots in {seconds:.0f} s ({kept} kept the adapted weights; "
            f"{len(reports) - len(adapted)} too short to adapt)")
