"""`framegen evaluate`: PSNR / SSIM / MS-SSIM of each engine's in-betweens against real frames."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from framegen import console
from framegen.commands import options
from framegen.core import workspace
from framegen.core.config import resolve_config
from framegen.core.errors import UsageError
from framegen.core.manifest import write_manifest

NAME = "evaluate"


def run(
    datasets: Optional[list[Path]] = typer.Argument(
        None, help="Dataset folders (build-dataset or synth). \\[default: framegen-work/dataset]"
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
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file of options (flags win)."),
) -> None:
    """Score engines on real in-betweens: for every window, frames 0 and 7 -> 1..6 (large gap) and 0 and
    2 -> 1 (small gap).

    Examples:
        framegen evaluate
        framegen evaluate --engine flow,model --checkpoint rife4 --max-windows 20

    PSNR, SSIM and MS-SSIM per t and overall, and time per frame, for each engine; per dataset when
    several are given. Prints tables and writes a JSON report (per-shot numbers included).
    """
    from framegen.core.engines import CHECKPOINT_ENGINES
    from framegen.core.stages.evaluate import EvaluateConfig, evaluate, per_t_table, results_table

    folders = datasets or [workspace.input_folder(None, "dataset")]
    if engine is not None:
        engines = [name.strip() for name in engine.split(",") if name.strip()]
    else:
        engines = ["blend", "flow", "model"] if checkpoints else None
    flags = dict(engines=engines, checkpoints=checkpoints or None, device=device, gif=gif, split=split,
                 max_windows=max_windows)
    settings = resolve_config(EvaluateConfig, flags, config,
                              flag_names={"engines": "--engine", "checkpoints": "--checkpoint"})
    if settings.checkpoints and not set(CHECKPOINT_ENGINES) & set(settings.engines):
        raise UsageError("--checkpoint is for the model and auto engines: add model to --engine")
    report_path = output if output is not None else Path(folders[0]).parent / "evaluation.json"
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report = evaluate(folders, settings, report_path.parent, options.fetch_weights)
    stdout = Console(highlight=False)
    stdout.print(results_table(report, "large_gap"))
    stdout.print(results_table(report, "small_gap"))
    stdout.print(per_t_table(report))
    write_manifest(report, report_path.parent, report_path.name)
    console.result(f"wrote {report_path}" + (f" and {settings.gif}" if settings.gif else ""))
