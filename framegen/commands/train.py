"""`framegen train`: train an interpolation model on one or more datasets."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from framegen import console
from framegen.core.config import resolve_config
from framegen.core.workspace import default_folder, folder_lock, input_folder

log = logging.getLogger(__name__)

NAME = "train"


def _parse_mix(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated weights such as 0.7,0.3, got {text!r}") from None


def run(
    datasets: Optional[list[Path]] = typer.Argument(
        None, help="Dataset folders (build-dataset / synth). Default: the workspace's dataset."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Run folder. Default: the workspace's run."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Epochs to train (default 10; 1000 with --init)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Windows per step per process (default 4)."),
    crop: Optional[int] = typer.Option(
        None, "--crop", help="Train on random square crops of this size (default: 128 with the small CPU model "
        "or --init, else whole frames)."),
    full_size: bool = typer.Option(
        False, "--full-size", help="On a CPU, train the full-size mipal model, not the small one picked by default."),
    config_file: Optional[Path] = typer.Option(
        None, "--config", help="TOML file of options (default: none); flags override it."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in the run folder from its last checkpoint."),
    device: Optional[str] = typer.Option(None, "--device", help="auto | cpu | cuda (default auto: CUDA if any)."),
    precision: Optional[str] = typer.Option(None, "--precision", help="fp32 | bf16 | fp16 (default fp32)."),
    arch: Optional[str] = typer.Option(
        None, "--arch", help="Generator architecture: mipal (default; the original GAN, learns from scratch), "
        "rife4 (RIFE 4.x, any t) or rife3hd (RIFE v3.6 HD, midpoints)."),
    init: Optional[str] = typer.Option(
        None, "--init", help="Start from these weights: an installed NAME (`framegen weights list`) or an export "
        "folder, of the same --arch (default: none, from scratch). Fine-tuning defaults apply."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Learning rate (default 1e-4; 5e-6 with --init)."),
    times: Optional[str] = typer.Option(
        None, "--times", help="What a step learns from: window | all | random | midpoints (default: mipal window, "
        "rife4 random, rife3hd midpoints)."),
    objective: Optional[str] = typer.Option(
        None, "--objective", help="direct: (A, B) -> M; cycle: f(f(A, M), f(M, B)) -> M, at the gap it fills "
        "(rife4/rife3hd with --init; default direct)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed (default 0)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after this many steps (default: none)."),
    max_minutes: Optional[float] = typer.Option(
        None, "--max-minutes", help="Stop the training steps after this many minutes (the validations between "
        "them included); the final validation and export come after (default: none)."),
    mix: Optional[str] = typer.Option(
        None, "--mix", help="Sampling weight per dataset, e.g. 0.7,0.3 (default: every window equally)."),
    validate_synthetic: Optional[bool] = typer.Option(
        None, "--validate-synthetic", help="Also validate on synthetic datasets (default: movie datasets only)."),
    checkpoint_every: Optional[int] = typer.Option(
        None, "--checkpoint-every", help="Steps between checkpoints (default 200)."),
    checkpoint_minutes: Optional[float] = typer.Option(
        None, "--checkpoint-minutes", help="Also a checkpoint when the newest is this many minutes old (default 10)."),
    validate_every: Optional[int] = typer.Option(
        None, "--validate-every", help="Steps between validations besides each epoch's end (default: none; "
        "500 with --init)."),
    keep: Optional[int] = typer.Option(None, "--keep", help="Step checkpoints kept besides last and best (default 3)."),
    workers: Optional[int] = typer.Option(
        None, "--workers", help="Data-loading processes (default: 0 on CPU, up to 8 on CUDA)."),
    export: bool = typer.Option(False, "--export", help="Only export the run's best checkpoint for inference."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run folder (with --export: any files where the export goes)."),
) -> None:
    """Train a frame interpolation model; write checkpoints, metrics, sample GIFs and exported weights.

    Examples:
    framegen train --epochs 3
    framegen train DATASET --arch rife4 --init rife4 --max-minutes 15

    The first trains the original mipal design from scratch on the workspace's dataset; on a CPU, unless
    --full-size or [model] settings are given, it picks the small model of recipes/small.toml (width 0.25,
    refiner_depth 6, 128 px crops, 4 windows a step) and says so. The second fine-tunes published RIFE weights
    (`framegen weights fetch rife4` first); recipes/ holds longer runs. Before the first step, train prints its
    memory estimate (and refuses a run that cannot fit) and, after it, the time a step, an epoch and the run
    will take. Ctrl-C or SIGTERM: a checkpoint of the current step, then exit 130; `--resume` continues.

    Runs on the CPU, one GPU, or many under `torchrun --nproc-per-node N -m framegen train ...`. Model sizes,
    loss weights and the GAN part are set in the --config TOML, e.g. [model] width = 0.25; [loss] ms_ssim = 1.0;
    [gan] weight = 0.01, loss = "hinge".
    """
    from framegen.core.engines import why_not_trained
    from framegen.core.models.export import read_export_info
    from framegen.core.training.guard import Stopped
    from framegen.core.training.log import metrics_text
    from framegen.core.training.loop import export_run, saved_config, train

    run_folder = output if output is not None else default_folder("run")
    if export:
        with folder_lock(input_folder(run_folder, "run")):
            exported, state = export_run(run_folder, overwrite)
        console.result(f"exported step {state['step']} of {run_folder} to {exported}")
        return
    flags = dict(
        datasets=[str(input_folder(d, "dataset")) for d in datasets] if datasets else None,
        mix=_parse_mix(mix), validate_synthetic=validate_synthetic, epochs=epochs, batch_size=batch_size,
        device=device, precision=precision, arch=arch, init=init, lr=lr, times=times, objective=objective, seed=seed,
        max_steps=max_steps, max_minutes=max_minutes, crop=crop, checkpoint_every=checkpoint_every,
        checkpoint_minutes=checkpoint_minutes, validate_every=validate_every, keep=keep, workers=workers,
    )
    config = resolve_train_config(flags, config_file, saved_config(run_folder) if resume else None, full_size)
    try:
        result = train(config, run_folder, resume=resume, overwrite=overwrite)
    except Stopped as stop:  # the resume line is what the stopped command produced
        console.result(str(stop))
        raise KeyboardInterrupt from None
    if not result.is_main:
        return
    console.result(f"wrote {result.run}: {console.count(result.steps, 'step')} "
                   f"({result.windows_per_second:.2f} windows/s); exported step {result.exported_step} to {result.export}")
    if result.validation is not None:
        console.result(f"validation: {metrics_text(result.validation)}")
        console.result(f"flow:       {metrics_text(result.flow)}")
        console.result(f"cross-fade: {metrics_text(result.crossfade)}")
        if result.init_validation is not None:
            console.result(f"start ({config.init}): {metrics_text(result.init_validation)}")
    console.result(how_to_use(run_folder, why_not_trained(read_export_info(result.export).metadata)))


def how_to_use(run: Path, why_not: str | None) -> str:
    """train's last line: the command that interpolates with the run, and whether `auto` takes it."""
    if why_not is not None:
        return (f"--engine auto does not use this run ({why_not}); to use it anyway: "
                f"framegen interpolate A B --engine model --checkpoint {run} -o out.gif")
    if Path(run).resolve() == default_folder("run").resolve():
        return "--engine auto uses this run (the workspace's): framegen interpolate A B -o out.gif"
    return f"--engine auto uses this run when given: framegen interpolate A B --checkpoint {run} -o out.gif"


def resolve_train_config(flags: dict, config_file: Path | None, base: dict | None, full_size: bool):
    """The run's TrainConfig: flags > config file > `base` (a resumed run's) > defaults; the workspace's dataset
    when none is given; on a CPU the small model unless --full-size or [model] settings say otherwise."""
    from framegen.core.training.config import SMALL_CPU_DEFAULTS, TrainConfig, takes_small_cpu_defaults

    config = resolve_config(TrainConfig, flags, config_file, base)
    if not config.datasets:
        flags["datasets"] = [str(input_folder(None, "dataset"))]
        config = resolve_config(TrainConfig, flags, config_file, base)
    if base is not None or full_size or not takes_small_cpu_defaults(config):
        return config
    small = resolve_config(TrainConfig, flags, config_file, SMALL_CPU_DEFAULTS)
    if small.model == config.model:  # [model] settings were given: they win over the small defaults
        return config
    model = ", ".join(f"{key} {value}" for key, value in SMALL_CPU_DEFAULTS["model"].items())
    log.info(f"on the CPU: the small mipal model (recipes/small.toml: {model}), "
             f"{small.crop} px crops, {small.batch_size} windows a step; --full-size trains the full model",
             extra={"hold": True})  # said once the run starts: an error in the dataset stays one line
    return small
