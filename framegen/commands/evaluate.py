"""`framegen evaluate`: PSNR / SSIM / MS-SSIM of each engine's in-betweens against real frames."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from framegen import console
from framegen.commands import options
from framegen.core import workspace
from framegen.core.config import resolve_config
from framegen.core.errors import InputError, UsageError
from framegen.core.manifest import is_manifest_of, write_manifest
from framegen.core.media.animation import is_animation_file

NAME = "evaluate"


def run(
    datasets: Optional[list[Path]] = typer.Argument(
        None, help="Dataset folders (build-dataset or synth), or one MOVIE file. \\[default: framegen-work/dataset]"
    ),
    engine: Optional[str] = typer.Option(
        None, "--engine", help="Comma-separated engines: blend, flow, minterpolate (ffmpeg), model, auto (as "
        "in `framegen interpolate`). \\[default: blend,flow; blend,flow,model with --checkpoint]",
    ),
    checkpoints: Optional[list[Path]] = typer.Option(
        None, "--checkpoint", help="For the model/auto engines: installed weights NAME (rife4, rife3hd), an "
        "export folder or a training run folder; repeat it to compare several. rife3hd makes each frame at "
        "the nearest dyadic time k/32.",
    ),
    device: Optional[str] = typer.Option(
        None, "--device", help="auto | cpu | cuda: where the model engine runs. \\[default: auto]"
    ),
    split: Optional[str] = typer.Option(None, "--split", help="Which split's windows. \\[default: val]"),
    max_windows: Optional[int] = typer.Option(
        None, "--max-windows", help="At most this many windows per dataset, evenly spread. \\[default: all]"
    ),
    gif: Optional[Path] = typer.Option(
        None, "--gif", help="Also write one window as an animation (GIF/WebP/PNG/MP4), a column per engine."
    ),
    output: Optional[Path] = typer.Option(
        None, "-o", "--output", help="JSON report to write. \\[default: evaluation.json beside the first dataset]"
    ),
    ensemble: Optional[bool] = typer.Option(
        None, "--ensemble/--no-ensemble", help="Also score each network averaged over three passes (as given, "
        "mirrored, time-reversed): about 3x the time. \\[default: off]",
    ),
    start: Optional[float] = typer.Option(None, "--start", help="Movie: start at this time, in seconds."),
    end: Optional[float] = typer.Option(None, "--end", help="Movie: stop before this time, in seconds."),
    score_every: Optional[int] = typer.Option(
        None, "--score-every", help="Movie: score one of every N dropped drawings of a shot. \\[default: 1]"
    ),
    adapt: Optional[bool] = typer.Option(
        None, "--adapt/--no-adapt", help="Movie: also score each network (rife4, rife3hd) adapted to each shot's "
        "even drawings, which never sees the odd ones it is scored on (docs/adapt.md). \\[default: off]",
    ),
    adapt_steps: Optional[int] = typer.Option(
        None, "--adapt-steps", help="Movie, --adapt: optimiser steps per shot. \\[default: 10]"
    ),
    detector: Optional[str] = typer.Option(
        None, "--detector", help="Movie: cut detector, content only, as in video mode. \\[default: content]"
    ),
    cut_threshold: Optional[float] = options.CUT_THRESHOLD,
    cut_ratio: Optional[float] = options.CUT_RATIO,
    ratio_window: Optional[int] = options.RATIO_WINDOW,
    min_shot_frames: Optional[int] = options.MIN_SHOT_FRAMES,
    hold_threshold: Optional[float] = options.HOLD_THRESHOLD,
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing -o or --gif file that is not an earlier one of framegen's."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file of options (flags win)."),
) -> None:
    """Score engines on real in-betweens of a dataset's windows, or of a MOVIE's own frames.

    Examples:
        framegen evaluate --engine flow,model --checkpoint rife4 --max-windows 20
        framegen evaluate movie.mp4 --engine model --checkpoint rife4 --adapt

    Datasets: for every window, frames 0 and 7 -> 1..6 (large gap) and 0 and 2 -> 1 (small gap). A movie:
    in each shot its distinct drawings, the odd ones made back from their even neighbours at t = 1/2 (what
    doubling the frame rate of the half-rate movie would do), never across a cut. PSNR, SSIM and MS-SSIM,
    per t, per dataset or per shot, and time per frame, for each engine; tables, and a JSON report.
    """
    from framegen.core.engines import CHECKPOINT_ENGINES
    from framegen.core.scenes import FilterConfig
    from framegen.core.stages.evaluate import EvaluateConfig

    inputs = datasets or [workspace.input_folder(None, "dataset")]
    movie = inputs[0] if len(inputs) == 1 and inputs[0].is_file() else None
    if engine is not None:
        engines = [name.strip() for name in engine.split(",") if name.strip()]
    else:
        engines = ["blend", "flow", "model"] if checkpoints else None
    flags = dict(engines=engines, checkpoints=checkpoints or None, device=device, gif=gif, split=split,
                 max_windows=max_windows, ensemble=ensemble, start=start, end=end, score_every=score_every,
                 adapt=adapt)
    settings = resolve_config(EvaluateConfig, flags, config,
                              flag_names={"engines": "--engine", "checkpoints": "--checkpoint"})
    detection = resolve_config(FilterConfig, options.detector_flags(detector, cut_threshold, cut_ratio, ratio_window,
                                                                    min_shot_frames, hold_threshold),
                               base=settings.filter.model_dump())
    adaptation = resolve_config(type(settings.adaptation), dict(steps=adapt_steps), base=settings.adaptation.model_dump(),
                                flag_names={"steps": "--adapt-steps"})
    settings = settings.model_copy(update={"filter": detection, "adaptation": adaptation})
    if settings.checkpoints and not set(CHECKPOINT_ENGINES) & set(settings.engines):
        raise UsageError("--checkpoint is for the model and auto engines: add model to --engine")
    if movie is None:
        report_path = output if output is not None else Path(inputs[0]).parent / "evaluation.json"
        evaluate_datasets(inputs, settings, report_path, overwrite)
    else:
        report_path = output if output is not None else workspace.workspace() / f"{movie.stem}-evaluation.json"
        evaluate_movie(movie, settings, report_path, overwrite)


def evaluate_datasets(folders: list[Path], settings, report_path: Path, overwrite: bool) -> None:
    from framegen.core.stages.evaluate import EvaluationReport, evaluate, per_t_table, results_table

    movie_only = [flag for flag, used in (("--start", settings.start), ("--end", settings.end),
                                          ("--score-every", settings.score_every > 1)) if used]
    if movie_only:
        raise UsageError(f"{movie_only[0]} is for a movie (`framegen evaluate MOVIE`), not for datasets")
    earlier_report = partial(is_manifest_of, schema=EvaluationReport.SCHEMA)
    workspace.check_output_file(report_path, folders, overwrite, earlier_report, "evaluation.json")
    if settings.gif is not None:
        if Path(settings.gif).resolve() == Path(report_path).resolve():
            raise UsageError(f"{settings.gif}: given as both --gif and -o; the report and the animation need two files")
        workspace.check_output_file(settings.gif, [*folders, report_path], overwrite, is_animation_file)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report = evaluate(folders, settings, report_path.parent, options.fetch_weights)
    stdout = Console(highlight=False)
    stdout.print(results_table(report, "large_gap"))
    stdout.print(results_table(report, "small_gap"))
    stdout.print(per_t_table(report))
    write_manifest(report, report_path.parent, report_path.name)
    console.result(f"wrote {report_path}" + (f" and {settings.gif}" if settings.gif else ""))


def evaluate_movie(movie: Path, settings, report_path: Path, overwrite: bool) -> None:
    from framegen.core.stages.evaluate.movie import (
        MovieEvaluationReport,
        evaluate_movie as evaluate,
        movie_table,
        shots_table,
    )
    from framegen.core.stages.interpolate import input_kind

    if input_kind(movie) == "image":
        raise InputError(f"{movie}: a still image; evaluate takes dataset folders or one movie")
    dataset_only = [flag for flag, used in (("--gif", settings.gif), ("--max-windows", settings.max_windows),
                                            ("--split", settings.split != "val")) if used]
    if dataset_only:
        raise UsageError(f"{dataset_only[0]} is for datasets, not for a movie")
    if settings.filter.detector != "content":
        raise UsageError(f"--detector {settings.filter.detector} is for `framegen filter` only; a movie is "
                         "evaluated with the content detector, which finds a cut to the frame")
    earlier_report = partial(is_manifest_of, schema=MovieEvaluationReport.SCHEMA)
    workspace.check_output_file(report_path, [movie], overwrite, earlier_report, "evaluation.json")
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report = evaluate(movie, settings, options.fetch_weights)
    stdout = Console(highlight=False)
    stdout.print(movie_table(report))
    stdout.print(shots_table(report))
    write_manifest(report, report_path.parent, report_path.name)
    console.result(f"wrote {report_path}")
