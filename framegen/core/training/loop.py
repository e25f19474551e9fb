"""`framegen train`: one training loop for one process, one GPU or `torchrun` on many.

`train()` reads top to bottom in phases (nanoGPT's train.py), each a function (module):
    setup    the distributed group from torchrun's env vars, device, precision, seeds    train, setup
    data     the datasets' train splits (mixed by weight), their held-out windows        open_data (training_data)
    models   generator + loss, discriminator, optimizers, scalers, EMA, DDP              TrainingModels (models)
    resume   every state from RUN/checkpoints/last.pt                                    resume_training
    memory   the peak estimated, a run that cannot fit refused (training_memory)        check_run_memory
    loop     train_step in pix2pix order on the frames training_pairs picks; checkpoints   training_loop
             every `checkpoint_every` steps and `checkpoint_minutes`; validation at each
             epoch's end (and every `validate_every` steps; at step 0 too when starting from
             `init` weights: they are a candidate for `best`); Ctrl-C / SIGTERM (from the first
             validation to the last): a checkpoint of the step, then exit 130 (signals); a
             non-finite loss: exit 3 (training_guard)
    finish   final validation, export (RUN/export/), run manifest (RUN/manifest.json)    finish

A run folder:
    checkpoints/   step-*.pt (newest `keep`), last.pt, best.pt (framegen.core.training.checkpoint)
    metrics.csv    one row per validation (core/training/log.py): the model beside flow, the cross-fade and
                   its starting weights (with --init)
    samples/       step-NNNNNNNN.gif at each validation: windows as rows, columns real | cross-fade | model
    export/        model.safetensors + model.json (what `interpolate --checkpoint` loads), with the held-out
                   comparisons with flow and the starting weights that decide `auto` (core/training/validation.py)
    manifest.json  framegen/run, with references to the datasets' manifests

Resume is exact (with the same number of processes and batch size): the order of windows and each
window's augmentation are pure functions of (seed, epoch, position), and every state that changes during
training is in the checkpoint: `save_training` writes it, `resume_training` reads it back. With another
batch size or number of processes it resumes at the first batch not yet seen; when the epoch has nothing
left (a larger batch, a dataset that shrank) the next epoch starts.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import shlex
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from framegen.core.errors import InputError, UsageError
from framegen.core.manifest import Manifest, UpstreamRef, sha256_file, upstream_ref, write_manifest
from framegen.core.media.convert import windows_to_float
from framegen.core.models.export import ExportMetadata, check_export_target, export_model
from framegen.core.progress import clock
from framegen.core.signals import StopSignals
from framegen.core.training.checkpoint import CheckpointSaver, load_checkpoint, restore_rng, rng_state
from framegen.core.training.config import TrainConfig, learning_rate_factor
from framegen.core.training.data import TrainingData, open_data
from framegen.core.training.distributed import Distributed, any_process, barrier, init_distributed, largest, shutdown
from framegen.core.training.guard import Stopped, check_losses, check_weights
from framegen.core.training.log import RunLog, TrainingProgress
from framegen.core.training.memory import check_run_memory
from framegen.core.training.models import TrainingModels
from framegen.core.training.pairs import sample_pairs, step_rng
from framegen.core.training.step import autocast_context, train_step
from framegen.core.training.validation import NO_VALIDATION, STARTING_WEIGHTS, Validation, Validator
from framegen.core.workspace import check_apart_from_inputs, record_written, stage_output

log = logging.getLogger(__name__)

# What a run with no held-out window says at its start.
NOTHING_TO_VALIDATE = ("no held-out windows (the datasets' val splits are empty: build-dataset holds out whole "
                       "shots, and a movie of one shot has none): nothing will be validated, the export will claim "
                       "no gain over flow, and --engine auto will not prefer it")


class RunManifest(Manifest):
    SCHEMA = "framegen/run"
    SCHEMA_VERSION = 1

    arch: str
    datasets: list[UpstreamRef]  # every training dataset's manifest (`upstream` is the first)
    steps: int
    epochs: float  # epochs done (fractional when stopped by max_steps or max_minutes)
    world_size: int
    device: str
    validation: dict[str, float] | None  # the exported weights' validation numbers
    crossfade: dict[str, float] | None  # the cross-fade baseline on the same windows
    flow: dict[str, float] | None = None  # the flow engine on the same windows
    beats_flow: bool | None = None  # what `auto` reads from the export
    init: str | None = None  # the weights it started from (--init)
    init_validation: dict[str, float] | None = None  # theirs on the same windows
    beats_init: bool | None = None  # what `auto` reads too, for a fine-tuned export
    exported_step: int
    export: str  # relative path of model.json


@dataclass
class TrainResult:
    run: Path
    is_main: bool
    steps: int
    validation: dict[str, float] | None  # rank 0: the exported weights' held-out scores (large gap)
    flow: dict[str, float] | None  # flow's on the same windows
    crossfade: dict[str, float] | None  # the cross-fade's
    beats_flow: bool | None  # what the export records for `auto`
    init_validation: dict[str, float] | None  # the starting weights' (--init)
    beats_init: bool | None  # what the export records for `auto` (--init)
    exported_step: int
    export: Path
    windows_per_second: float


@dataclass
class TrainState:
    """Where the loop is; saved in every checkpoint."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_psnr: float = -math.inf

    def advance(self, steps_per_epoch: int) -> bool:
        """One step done; True when it ended an epoch."""
        self.step += 1
        self.batch_in_epoch += 1
        if self.batch_in_epoch < steps_per_epoch:
            return False
        self.epoch, self.batch_in_epoch = self.epoch + 1, 0
        return True

    def epoch_progress(self, steps_per_epoch: int) -> float:
        return self.epoch + self.batch_in_epoch / steps_per_epoch

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for item in fields(self):
            setattr(self, item.name, state[item.name])


@dataclass
class Session:
    """One training session (a new run or a resumed one), as the phases hand it on."""

    config: TrainConfig
    run: Path
    dist: Distributed
    amp: Any  # an autocast context, or a null one for fp32
    data: TrainingData
    dataset_shas: list[str]  # the sha256 of each dataset's manifest: which data the checkpoints were trained on
    models: TrainingModels
    state: TrainState
    log: RunLog
    validator: Validator
    saver: CheckpointSaver | None  # rank 0 only
    total_steps: int
    validated_at: int = -1
    final_cost_said: bool = False  # --max-minutes: the final validation's time was estimated (say_final_cost)
    saved: tuple[int, float] | None = None  # rank 0: (step, time.monotonic()) of the newest checkpoint
    started: float = field(default_factory=time.monotonic)  # this session's start


# ---------------------------------------------------------------------------------------------- run folder


def checkpoint_folder(run: Path) -> Path:
    return Path(run) / "checkpoints"


def saved_config(run: Path) -> dict[str, Any]:
    """The config of the run in `run` (from checkpoints/last.pt, read lazily), to resume it."""
    last = checkpoint_folder(run) / "last.pt"
    if not last.exists():
        raise InputError(f"{run}: no checkpoint to resume ({last} is missing)")
    return load_checkpoint(last, mmap=True)["config"]


def export_run(run: Path, overwrite: bool = False) -> tuple[Path, dict[str, Any]]:
    """Export the run's best checkpoint (the last one when none was validated) to RUN/export/, over an earlier
    export only, unless `overwrite`.

    Writes the EMA generator when EMA is on, with the held-out comparison with flow that validation
    measured for it. Returns (model.json path, the checkpoint's state).
    """
    folder = checkpoint_folder(run)
    source = folder / "best.pt" if (folder / "best.pt").exists() else folder / "last.pt"
    if not source.exists():
        raise InputError(f"{run}: no checkpoint to export (run `framegen train` first)")
    check_export_target(Path(run) / "export", overwrite, [source])
    state = load_checkpoint(source)
    config = state["config"]
    # .get: checkpoints written before validation compared with flow lack these
    measured = {key: state.get(key) for key in ("validation", "flow_validation", "beats_flow", "flow_gain",
                                                "validation_windows", "init_validation", "beats_init", "init_gain")}
    metadata = ExportMetadata(**measured, init=config.get("init"), recipe={"step": state["step"], "train": config})
    weights = state["ema"] if state["ema"] is not None else state["generator"]
    return export_model(Path(run) / "export", state["arch"], config["model"], weights, metadata), state


def save_training(session: Session, validation: Validation | None) -> None:
    """Rank 0: a checkpoint of every state that changes during training (best.pt too when it is the best).

    Weights that are no longer finite are never written (exit 3): the newest checkpoint stays a good one."""
    state, models = session.state, session.models
    check_weights({"generator": models.generator, "EMA generator": models.eval_model}, state.step, kept(session))
    is_best = validation is not None and validation.model["psnr"] > state.best_psnr
    if is_best:
        state.best_psnr = validation.model["psnr"]
    checkpoint = {
        "arch": session.config.arch, "config": session.config.model_dump(mode="json"),
        **state.state_dict(), **session.models.state_dict(),
        **(validation.checkpoint_fields() if validation is not None else NO_VALIDATION),
        "rng": rng_state(), "world_size": session.dist.world_size, "datasets": session.dataset_shas,
    }
    path = session.saver.save(checkpoint, state.step, is_best)
    record_written(session.run, "train", [p.relative_to(session.run).as_posix() for p in
                                          (path.parent, path, session.saver.last, session.saver.best)])
    session.saved = (state.step, time.monotonic())


def kept(session: Session) -> str:
    """What a run stopped by an error leaves on disk (the end of its message)."""
    if session.saved is None:
        return "no checkpoint was written"
    return f"its last good checkpoint, step {session.saved[0]}, is kept in {checkpoint_folder(session.run)}"


def resume_command(session: Session) -> str:
    """The command that continues this run."""
    launcher = f"torchrun --nproc-per-node {session.dist.world_size} -m framegen" if session.dist.enabled \
        else "framegen"
    return f"{launcher} train -o {shlex.quote(str(session.run))} --resume"


def resume_training(run: Path, config: TrainConfig, models: TrainingModels, world_size: int,
                    dataset_shas: list[str]) -> TrainState:
    """The resume phase: load what save_training wrote into `models` and the RNGs; the loop's state."""
    path = checkpoint_folder(run) / "last.pt"
    checkpoint = load_checkpoint(path, arch=config.arch)
    check_same_arch(path, checkpoint["arch"])
    if checkpoint["config"]["model"] != config.model:
        raise InputError(f"{run}: the checkpoint's model config differs from the one asked for; "
                         "resume without changing [model]")
    models.load_state_dict(checkpoint, path)
    state = TrainState()
    state.load_state_dict(checkpoint)
    state.batch_in_epoch = resumed_batch(checkpoint, config.batch_size * world_size)
    if not same_datasets(checkpoint, dataset_shas, config.datasets):
        state.best_psnr = -math.inf  # best.pt was measured on other held-out windows: no comparison with it
    restore_rng(checkpoint["rng"])
    log.info(f"Resuming {run} at step {state.step} (epoch {state.epoch + 1}, batch {state.batch_in_epoch})")
    return state


def check_same_arch(last: Path, arch: str) -> None:
    """Refuse a last.pt that is not of the run in its folder: the run's other checkpoints are of another arch."""
    for other in [*sorted(last.parent.glob("step-*.pt")), last.parent / "best.pt"]:
        if not other.exists() or other.samefile(last):
            continue
        try:
            theirs = load_checkpoint(other, mmap=True)["arch"]
        except InputError:
            continue  # a damaged older checkpoint says nothing about this one
        if theirs != arch:
            raise InputError(f"{last}: a checkpoint of arch {arch!r}, but {other.name} of this run is of arch "
                             f"{theirs!r}: last.pt was replaced by another run's; put this run's own back")


def same_datasets(checkpoint: dict[str, Any], dataset_shas: list[str], datasets: list[str]) -> bool:
    """Whether the run resumes on the datasets it trained on (their manifests unchanged); warns when not.
    Checkpoints written before datasets were recorded are taken as the same."""
    saved = checkpoint.get("datasets")
    if saved is None or saved == dataset_shas:
        return True
    log.warning(f"{', '.join(datasets)}: not the datasets this run trained on until step {checkpoint['step']} "
                "(their manifests changed): its best.pt was validated on other windows, so the best checkpoint "
                "is chosen anew from this session's validations")
    return False


def resumed_batch(checkpoint: dict[str, Any], windows_per_step: int) -> int:
    """The batch of the epoch to resume at: the checkpoint's, or with another batch size or number of
    processes the first batch of windows not all seen yet (the resume is then not exact)."""
    saved_per_step = checkpoint["config"]["batch_size"] * checkpoint["world_size"]
    if saved_per_step == windows_per_step:
        return checkpoint["batch_in_epoch"]
    log.warning(f"resuming with {windows_per_step} windows a step instead of {saved_per_step}: "
                "the rest of the epoch is not the exact order an uninterrupted run would see")
    return checkpoint["batch_in_epoch"] * saved_per_step // windows_per_step


# ---------------------------------------------------------------------------------------------- phases


def train(config: TrainConfig, run: Path, resume: bool = False, overwrite: bool = False) -> TrainResult:
    """Train (or resume) the run in `run`; the same call on every torchrun process."""
    run = Path(run)
    dist = init_distributed(config.device)  # setup: the process group and this process's device
    if not dist.is_main:
        logging.getLogger("framegen").setLevel(logging.WARNING)
    try:
        last = checkpoint_folder(run) / "last.pt"
        if dist.is_main and not resume and not overwrite and last.exists():
            raise UsageError(f"{run}: holds the checkpoints of an earlier run: --resume continues it, "
                             "--overwrite starts over")
        inputs = run_inputs(config)
        if dist.is_main:
            check_apart_from_inputs(run, inputs)
            if resume:  # a fresh run's folder holds nothing else (stage_output)
                check_export_target(run / "export", overwrite, [])
        # every refusal (data, crop, --init, arch, resume, memory) comes before --overwrite removes anything
        amp = setup(config, dist.device)
        data = open_data(config, dist)
        models = TrainingModels(config, dist.device, data.frame_size)
        dataset_shas = [sha256_file(path) for path in data.dataset_manifests]
        state = resume_training(run, config, models, dist.world_size, dataset_shas) if resume else TrainState()
        check_run_memory(config, data, dist)  # after the refusals of models and resume, before the first step
        writing = stage_output(run, "train", overwrite, resume, inputs=inputs) if dist.is_main else \
            contextlib.nullcontext()
        with writing:
            return _train(config, run, resume, dist, amp, data, dataset_shas, models, state)
    finally:
        shutdown(dist)


def run_inputs(config: TrainConfig) -> list[Path]:
    """What a run reads, which its folder must keep clear of: the datasets, and `init` when it is a folder or
    file (a run folder or an export) rather than installed weights."""
    init = [Path(config.init)] if config.init is not None and Path(config.init).exists() else []
    return [Path(folder) for folder in config.datasets] + init


def _train(config: TrainConfig, run: Path, resume: bool, dist: Distributed, amp, data: TrainingData,
           dataset_shas: list[str], models: TrainingModels, state: TrainState) -> TrainResult:
    models.wrap_distributed(dist)
    total_steps = config.epochs * data.steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    saver = CheckpointSaver(checkpoint_folder(run), config.keep) if dist.is_main else None
    session = Session(config, run, dist, amp, data, dataset_shas, models, state, RunLog(run, dist.is_main),
                      Validator(data.val_sets, dist.device, models.init_generator), saver, total_steps,
                      saved=(state.step, time.monotonic()) if resume else None)
    with StopSignals() as signals:  # from the first validation to the last
        training_loop(session, signals)
        return finish(session, signals)


def setup(config: TrainConfig, device: torch.device):
    """Precision and seeds (the same initial weights on every process); the autocast context of the steps."""
    amp = autocast_context(device, config.precision)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    random.seed(config.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return amp


def training_loop(session: Session, signals: StopSignals) -> None:
    """Steps until total_steps (or --max-minutes); checkpoints and validations on the way. A Ctrl-C or SIGTERM
    ends it after the step or validation in progress, with a checkpoint of that step (exit 130)."""
    config, data, state, dist = session.config, session.data, session.state, session.dist
    log.info(f"Training {config.arch} on {data.train_windows} windows, {dist.device}, {config.precision}")
    log.info(f"{data.steps_per_epoch} steps/epoch of {config.batch_size} x {dist.world_size} process(es); "
             f"{session.total_steps - state.step} steps to go{time_bound(config.max_minutes)}")
    if not session.validator.val_sets:
        log.info(NOTHING_TO_VALIDATE)
    if state.step == 0 and config.init is not None:
        log.info(f"Validating {session.validator.plan(STARTING_WEIGHTS)} ...")
        validate_and_save(session, bars="validate step 0")  # the starting weights: `best` unless training improves
    started = time.perf_counter()  # for max_minutes: this session's wall time, validation included
    progress = state.step / session.total_steps  # of the run, for the learning-rate schedule
    display = TrainingProgress(session.log, data.steps_per_epoch, state.step, config.max_minutes)
    with display:
        while state.step < session.total_steps:
            stop_if_asked(session, signals)
            start_epoch(session)
            tick = time.perf_counter()
            for window in data.loader:  # uint8 (B, T, 3, H, W)
                epoch_done = run_step(session, window, progress, tick)
                display.update(state.step, state.epoch, session.total_steps)
                if state.step >= session.total_steps:
                    break  # the last step's validation is finish()'s: announced, with its own progress
                validate_or_checkpoint(session, epoch_done)
                stop_if_asked(session, signals)
                progress = run_progress(session, started)
                if state.step >= session.total_steps:
                    break
                tick = time.perf_counter()


def start_epoch(session: Session) -> None:
    """Point the sampler at what is left of the current epoch. Nothing left (a resume after the dataset
    shrank or with a larger batch): that epoch is over and the next one starts, so the loader is never empty."""
    state, data = session.state, session.data
    if state.batch_in_epoch >= data.steps_per_epoch:
        log.info(f"epoch {state.epoch + 1} has no batch left after batch {state.batch_in_epoch}: "
                 f"starting epoch {state.epoch + 2}")
        state.epoch, state.batch_in_epoch = state.epoch + 1, 0
    data.sampler.set_epoch(state.epoch, skip=state.batch_in_epoch * session.config.batch_size)


def stop_if_asked(session: Session, signals: StopSignals) -> None:
    """A Ctrl-C or SIGTERM on any process: the checkpoint and the stop (on every process at the same point)."""
    if any_process(session.dist, signals.requested is not None):
        stop_with_checkpoint(session, signals.requested)


def run_step(session: Session, window: torch.Tensor, progress: float, tick: float) -> bool:
    """One step on a batch of windows, uint8 (B, T, 3, H, W), loaded since `tick`; True when it ended an epoch.
    A loss that is not finite stops the run here (exit 3)."""
    config, state, models = session.config, session.state, session.models
    models.set_learning_rates(learning_rate_factor(config, state.step, progress))
    window = windows_to_float(window.to(session.dist.device, non_blocking=True))  # (B, T, 3, H, W) in [0, 1]
    pairs = sample_pairs(window, config.times, config.small_gap, step_rng(config.seed, state.step))
    terms = train_step(models, pairs, session.amp)
    check_losses(terms, state.step + 1, kept(session))
    models.update_ema(state.step)
    epoch_done = state.advance(session.data.steps_per_epoch)
    # loading + step; validation and checkpoints excluded
    session.log.add_step(terms, window.shape[0] * session.dist.world_size, time.perf_counter() - tick)
    return epoch_done


def validate_or_checkpoint(session: Session, epoch_done: bool) -> None:
    """After a step: validation at an epoch's end and every validate_every steps, else (rank 0) a checkpoint
    every checkpoint_every steps and whenever the newest is checkpoint_minutes old."""
    step, config = session.state.step, session.config
    if (epoch_done and config.validate_each_epoch) or (config.validate_every is not None
                                                      and step % config.validate_every == 0):
        validate_and_save(session)
    elif session.dist.is_main and (step % config.checkpoint_every == 0 or checkpoint_due(session)):
        save_training(session, None)
        log.info(f"step {step}: {session.log.status_text()}; checkpoint saved")


def checkpoint_due(session: Session) -> bool:
    """Whether the newest checkpoint (or this session's start, before any) is checkpoint_minutes old."""
    if session.config.checkpoint_minutes is None:
        return False
    since = session.saved[1] if session.saved is not None else session.started
    return time.monotonic() - since >= 60 * session.config.checkpoint_minutes


def stop_with_checkpoint(session: Session, why: str) -> None:
    """A Ctrl-C or SIGTERM: (rank 0) a checkpoint of the step just done, unless it has one, and the command
    that resumes; then the stop every stage makes on a Ctrl-C (KeyboardInterrupt; guard.Stopped carries the resume line: "Stopped.", exit 130)."""
    state = session.state
    if session.dist.is_main:
        if session.saved is None or session.saved[0] != state.step:
            save_training(session, None)
        raise Stopped(f"{why}: stopped after step {state.step} of {session.total_steps}; saved "
                      f"{checkpoint_folder(session.run) / 'last.pt'}; resume with: {resume_command(session)}")
    raise KeyboardInterrupt


def run_progress(session: Session, started: float) -> float:
    """The run's progress in [0, 1] for the learning-rate schedule; ends the run when out of --max-minutes
    (the same time on every process: the slowest one's, so all stop at the same step)."""
    progress = session.state.step / session.total_steps
    if session.config.max_minutes is None:
        return progress
    minutes = largest(session.dist, (time.perf_counter() - started) / 60)
    if minutes > session.config.max_minutes:
        session.total_steps = session.state.step  # out of time: stop here as if this were the last step
    return max(progress, minutes / session.config.max_minutes)


def validate_and_save(session: Session, bars: str | None = None) -> None:
    """Rank 0: validation, sample GIF, checkpoint, metrics.csv row; the others wait. `bars`: the model's progress
    bar description, outside the training line (Validator.validate)."""
    state, models = session.state, session.models
    validation, seconds = None, 0.0
    if session.dist.is_main:
        started = time.monotonic()
        models.generator.eval()
        validation = session.validator.validate(models.eval_model, bars=bars)
        save_training(session, validation)  # first: a disk that fills here leaves no sample without its checkpoint
        sample = session.log.sample_path(state.step)
        session.validator.write_samples(sample, models.eval_model, session.config.sample_windows)
        record_written(session.run, "train", [sample.parent.name, sample.relative_to(session.run).as_posix()])
        models.generator.train()
        seconds = time.monotonic() - started - session.validator.baseline_seconds
    session.log.write_validation(state.step, state.epoch_progress(session.data.steps_per_epoch), validation)
    if validation is not None:
        say_final_cost(session, seconds)
    session.validated_at = state.step
    barrier(session.dist)


def time_bound(max_minutes: float | None) -> str:
    """What --max-minutes bounds, for the run's first lines ("" without it)."""
    if max_minutes is None:
        return ""
    return (f"; --max-minutes {max_minutes:g} bounds these steps (with the validations and checkpoints between "
            "them), not the final validation and export, which come after it")


def say_final_cost(session: Session, seconds: float) -> None:
    """With --max-minutes, once, after the first validation: how long the final validation and export will add
    after the time is up (that validation's time without the baselines, which are scored once a run)."""
    if session.config.max_minutes is None or session.final_cost_said:
        return
    session.final_cost_said = True
    log.info(f"--max-minutes {session.config.max_minutes:g}: the final validation and the export will add about "
             f"{clock(seconds)} after it (as long as this validation took, the baselines' scores aside)")


def announce_finish(session: Session, validating: bool) -> None:
    """Rank 0: one line before the final validation (with its progress) and the export."""
    if not session.dist.is_main:
        return
    export = session.run / "export"
    if validating and session.validator.val_sets:
        log.info(f"Validating {session.validator.plan('the final weights')}, then exporting the best checkpoint "
                 f"to {export} ...")
    else:
        log.info(f"Exporting the {'best' if session.validator.val_sets else 'last'} checkpoint to {export} ...")


def finish(session: Session, signals: StopSignals) -> TrainResult:
    """Last validation, export of the best checkpoint, run manifest (last: it marks the run complete)."""
    state, run, dist = session.state, session.run, session.dist
    validating = session.validated_at != state.step
    announce_finish(session, validating)
    if validating:
        validate_and_save(session, bars=f"validate step {state.step}")
    stop_if_asked(session, signals)
    session.log.close()
    rate = session.log.windows_per_second()
    if not dist.is_main:
        return TrainResult(run, False, state.step, None, None, None, None, None, None, -1,
                           run / "export" / "model.json", rate)
    export_json, exported = export_run(run)
    refs = [upstream_ref(run, m) for m in session.data.dataset_manifests]
    manifest = RunManifest(
        **RunManifest.header(session.config.model_dump(mode="json"), refs[0]),
        arch=session.config.arch, datasets=refs, steps=state.step,
        epochs=round(state.epoch_progress(session.data.steps_per_epoch), 4), world_size=dist.world_size,
        device=str(dist.device), validation=exported["validation"], crossfade=exported["crossfade"],
        flow=exported.get("flow_validation"), beats_flow=exported.get("beats_flow"), init=session.config.init,
        init_validation=exported.get("init_validation"), beats_init=exported.get("beats_init"),
        exported_step=exported["step"],
        export=export_json.relative_to(run).as_posix(),
    )
    write_manifest(manifest, run)
    return TrainResult(run, True, state.step, exported["validation"], exported.get("flow_validation"),
                       exported["crossfade"], exported.get("beats_flow"), exported.get("init_validation"),
                       exported.get("beats_init"), exported["step"], export_json, rate)
