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


def run(
    inputs: list[Path] = typer.Argument(
        ..., help="Two images A B (an animation), or one MOVIE (told apart by their content, not their names)."
    ),
    output: Optional[Path] = typer.Option(
        None, "-o", "--output", help="Animation to write: .gif .webp .png (APNG) .mp4. "
        "\\[default: interpolated.gif, or .mp4 for a movie, in framegen-work]",
    ),
    frames: Optional[int] = typer.Option(None, "--frames", help="In-betweens between A and B. \\[default: 6]"),
    times: Optional[str] = typer.Option(
        None, "--times", help="Explicit in-between times in (0, 1), comma-separated, e.g. 0.25,0.5,0.75."
    ),
    fps: Optional[float] = typer.Option(
        None, "--fps", help="Frames per second of the animation \\[default: 12]; for a movie, the output rate "
        "(at most 16x the movie's)."
    ),
    factor: Optional[int] = typer.Option(
        None, "--factor", help="Movie: output rate = FACTOR x the movie's rate, 2 to 16. \\[default: 2]"
    ),
    start: Optional[float] = typer.Option(
        None, "--start", help="Movie: start at this time, in seconds, as in extract. \\[default: 0]"
    ),
    end: Optional[float] = typer.Option(
        None, "--end", help="Movie: stop before this time, in seconds. \\[default: the end]"
    ),
    loop: Optional[int] = typer.Option(
        None, "--loop", help="How many times the animation plays; 0 = forever (GIF/WebP/APNG). \\[default: 0]"
    ),
    pingpong: Optional[bool] = typer.Option(
        None, "--pingpong/--no-pingpong", help="Play forwards then backwards (A..B..A). \\[default: off]"
    ),
    engine: Optional[str] = typer.Option(
        None, "--engine", help="auto, flow, model, blend or minterpolate. auto = a trained model given with "
        "--checkpoint (else the workspace's training run, framegen-work/run) whose export records that it beat flow (and its starting weights, if fine-tuned), else "
        "installed RIFE weights (rife3hd, then rife4), else rife4 fetched once (not with FRAMEGEN_OFFLINE=1), "
        "else flow; one line on stderr says which and why. "
        "\\[default: auto]",
    ),
    checkpoint: Optional[Path] = typer.Option(
        None, "--checkpoint", help="For the model/auto engines: installed weights NAME (rife4, rife3hd: "
        "`framegen weights list`), an export folder (model.json + model.safetensors) or a training run folder "
        "(its export/). rife3hd makes each frame at the nearest dyadic time k/32 (bisection of midpoints); "
        "rife4 at any t.",
    ),
    device: Optional[str] = typer.Option(
        None, "--device", help="auto | cpu | cuda: where the model engine runs. \\[default: auto]"
    ),
    frames_dir: Optional[Path] = typer.Option(
        None, "--frames-dir", help="Also write every frame as DIR/000.png, 001.png, ... (A first, B last)."
    ),
    detector: Optional[str] = typer.Option(
        None, "--detector", help="Movie: cut detector, content only (vgg16 places a cut only to within 8 frames, "
        "so it is for `framegen filter` alone). The detector options are those of `framegen filter`, also "
        "read from a \\[filter] table of --config. \\[default: content]",
    ),
    cut_threshold: Optional[float] = options.CUT_THRESHOLD,
    cut_ratio: Optional[float] = options.CUT_RATIO,
    ratio_window: Optional[int] = options.RATIO_WINDOW,
    min_shot_frames: Optional[int] = options.MIN_SHOT_FRAMES,
    hold_threshold: Optional[float] = options.HOLD_THRESHOLD,
    ensemble: Optional[bool] = typer.Option(
        None, "--ensemble/--no-ensemble", help="Model engine: average each frame over three passes (as given, "
        "mirrored, time-reversed): about 3x the time. \\[default: off]",
    ),
    adapt: Optional[bool] = typer.Option(
        None, "--adapt/--no-adapt", help="Movie: before each shot, a copy of the network (rife4, rife3hd) learns "
        "that shot from its own drawings, and is reset after it (docs/adapt.md). \\[default: off]",
    ),
    adapt_steps: Optional[int] = typer.Option(
        None, "--adapt-steps", help="Movie, --adapt: optimiser steps per shot. \\[default: 10]"
    ),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file of options (flags win)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing -o file that framegen did not write, or a non-empty --frames-dir folder."),
) -> None:
    """Interpolate between two images A B into an animation, or raise the frame rate of a MOVIE.

    Examples:
        framegen interpolate a.png b.png -o out.gif --frames 10
        framegen interpolate movie.mp4 --factor 2 -o smooth.mp4

    Two images: A, the in-betweens, B, at the inputs' exact size (any size; RGBA gives a transparent
    animation). One movie: every frame kept, in-betweens added; scene cuts are never morphed across
    (frames repeat there), drawings held on twos are interpolated between distinct drawings, audio is
    copied; cuts and held frames are found as by `framegen filter`, with its options. The output format
    comes from the suffix of -o.
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
    from framegen.core.training.adapt import AdaptConfig

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
