"""evaluate: how well each engine recreates real in-between frames: a dataset's windows (here, report schema
framegen/evaluation) or a movie's own frames (movie.py, framegen/movie-evaluation); EvaluateConfig serves both.

The scoring itself (large and small gap, PSNR/SSIM/MS-SSIM per t, time per frame, groups by dataset and
shot) is core/scoring.py's, the same that training validation uses. This stage picks the engines and
windows, and turns the scores into a JSON report and rich tables. Engines: every name of core/engines
(ENGINE_NAMES); `model` and `auto` run once per exported checkpoint given, so several runs are compared
in one report.

With `gif`, one validation window is written as an animation with a column per engine (real frames
first), every column labelled: the large gap's in-betweens between the two real end frames.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator
from rich.table import Table

from framegen.core.engines import (
    CHECKPOINT_ENGINES,
    ENGINE_NAMES,
    Engine,
    Fetch,
    get_engine,
    refuse_weights_as_engine,
    unknown_engine,
)
from framegen.core.engines.model import ModelEngine
from framegen.core.errors import InputError, UsageError
from framegen.core.manifest import MANIFEST_NAME, Manifest, UpstreamRef, upstream_ref
from framegen.core.media.animation import write_animation
from framegen.core.media.images import label_columns
from framegen.core.scenes import FilterConfig
from framegen.core.scoring import ALL, EngineScores, GapScores, common_window_length, open_windows, score_engine
from framegen.core.training.adapt_config import AdaptConfig


class EvaluateConfig(BaseModel):
    """Options of `framegen evaluate`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    engines: list[str] = Field(default_factory=lambda: ["blend", "flow"])
    checkpoints: list[Path] = Field(default_factory=list)  # for model / auto, each run apart: export or run
    # folders, or installed weights NAMEs (engines.get_engine)
    device: Literal["auto", "cpu", "cuda"] = "auto"  # where the model engine runs
    gif: Path | None = None  # side-by-side animation of one window, a column per engine
    split: str = "val"
    max_windows: int | None = Field(None, ge=1)  # per dataset, evenly spread; None = all
    ensemble: bool = False  # also score each network averaged over three passes (engines/model.py)
    # a movie (movie.py): its part, how many odd drawings are scored, the detectors, adaptation
    start: float = Field(0.0, ge=0.0, le=10**7)
    end: float | None = Field(None, gt=0.0, le=10**7)
    score_every: int = Field(1, ge=1, le=1000)
    filter: FilterConfig = Field(default_factory=FilterConfig)
    adapt: bool = False  # also score each network adapted to each shot's even drawings
    adaptation: AdaptConfig = Field(default_factory=AdaptConfig)

    @field_validator("engines")
    @classmethod
    def _known_engines(cls, engines: list[str]) -> list[str]:
        unknown = [refuse_weights_as_engine(e) for e in engines if e not in ENGINE_NAMES]
        if unknown or not engines:
            raise ValueError(unknown_engine(unknown[0] if unknown else "(none)"))
        return list(dict.fromkeys(engines))


class EngineResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    engine: str  # as asked for
    runs: str  # the engine that ran (auto resolves to flow or model)
    overall: GapScores
    datasets: dict[str, GapScores]  # by dataset folder, as given
    shots: dict[str, dict[str, GapScores]]  # dataset folder -> shot -> scores


class DatasetRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str  # as given
    manifest: UpstreamRef  # its manifest, relative to the report's folder, and sha256
    windows: int  # evaluated


class EvaluationReport(Manifest):
    SCHEMA = "framegen/evaluation"
    SCHEMA_VERSION = 1

    split: str
    window_length: int
    datasets: list[DatasetRef]
    results: list[EngineResult]


def engines_to_run(config: EvaluateConfig, fetch: Fetch | None = None) -> list[tuple[str, Engine]]:
    """(label, engine) for each engine asked for; model and auto once per checkpoint (labelled by its run).
    `fetch`: how `auto` installs published weights when none are (engines.get_engine)."""
    runs = []
    for name in config.engines:
        if name in CHECKPOINT_ENGINES:
            several = len(config.checkpoints) > 1
            runs += [(f"{name}:{checkpoint_label(c)}" if several else name,
                      get_engine(name, c, config.device, fetch)) for c in config.checkpoints or [None]]
        else:
            runs.append((name, get_engine(name)))
    return runs


def checkpoint_label(checkpoint: Path) -> str:
    """RUN/export -> RUN's folder name; a model.json path -> its folder's; installed weights NAME -> NAME."""
    folder = checkpoint.parent if checkpoint.suffix == ".json" else checkpoint
    return folder.parent.name if folder.name == "export" else folder.name


def evaluate(datasets: list[Path], config: EvaluateConfig, report_folder: Path,
             fetch: Fetch | None = None) -> EvaluationReport:
    """Run every engine on the windows of `config.split` of each dataset; the report (to be written in
    `report_folder`, which its dataset references are relative to). `fetch`: as for engines_to_run."""
    if not datasets:
        raise UsageError("give at least one dataset folder")
    if len(set(datasets)) != len(datasets):
        raise UsageError("a dataset is given twice")
    if config.adapt:
        raise UsageError("--adapt is for a movie (`framegen evaluate MOVIE --adapt`): a network adapts to each "
                         "of its shots")
    window_sets = [open_windows(folder, config.split, config.max_windows) for folder in map(Path, datasets)]
    for windows in window_sets:
        if not windows.indices:
            raise InputError(f"{windows.folder}: the {config.split!r} split has no windows{no_windows_fix(config.split)}")
    length = common_window_length(window_sets)
    results, samples = [], []
    for label, engine in engines_to_run(config, fetch):
        for ensemble in (False, True) if config.ensemble and isinstance(engine, ModelEngine) else (False,):
            engine.ensemble = ensemble
            row = label + ("+ensemble" if ensemble else "")
            scores = score_engine(engine, window_sets, f"evaluate {row}")
            results.append(engine_result(row, engine, scores))
            samples.append(scores.sample)
    if config.gif is not None:
        first = window_sets[0]
        real = first.window(first.indices[0])  # uint8 (T, H, W, 3), the sample window
        write_side_by_side(config.gif, ["real", *(r.engine for r in results)], [real, *samples])
    refs = [DatasetRef(path=str(w.folder), manifest=upstream_ref(report_folder, w.folder / MANIFEST_NAME),
                       windows=len(w.indices)) for w in window_sets]
    return EvaluationReport(**EvaluationReport.header(config.model_dump(mode="json")), split=config.split,
                            window_length=length, datasets=refs, results=results)


def no_windows_fix(split: str) -> str:
    """How to get windows to score when a dataset's `split` has none (the end of that error line)."""
    if split != "val":
        return ""
    return (" (build-dataset holds out whole shots, and a movie of one shot has none): --split train scores the "
            "training windows, or build the dataset from a movie with more shots")


def engine_result(label: str, engine: Engine, scores: EngineScores) -> EngineResult:
    """The report's entry for one engine: overall, per dataset and per shot."""
    shots: dict[str, dict[str, GapScores]] = {}
    datasets: dict[str, GapScores] = {}
    for key, gap_scores in scores.groups.items():
        if len(key) == 2:
            shots.setdefault(key[0], {})[key[1]] = gap_scores
        elif key != ALL:
            datasets[key[0]] = gap_scores
    return EngineResult(engine=label, runs=engine.name, overall=scores.overall, datasets=datasets, shots=shots)


def write_side_by_side(path: Path, labels: list[str], columns: list[np.ndarray], fps: float = 4.0) -> None:
    """An animation of equally long uint8 (T, H, W, 3) clips side by side, each under a label."""
    sheet = label_columns(np.concatenate(columns, axis=2), labels, strip=20)  # (T, 20 + H, W * columns, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_animation(path, list(sheet), fps=fps)


def results_table(report: EvaluationReport, gap: str) -> Table:
    """One gap ("large_gap" or "small_gap"): a row per engine (per engine and dataset when there are several)."""
    last = report.window_length - 1
    title = {"large_gap": f"large gap: frames 0, {last} -> 1..{last - 1}", "small_gap": "small gap: frames 0, 2 -> 1"}
    several = len(report.datasets) > 1
    names = [Path(d.path).name for d in report.datasets]
    label = dict(zip((d.path for d in report.datasets), names if len(set(names)) == len(names) else
                     (d.path for d in report.datasets)))  # short folder names where they are unique
    label["all"] = "all"
    table = Table(title=f"{title[gap]} ({report.split} windows)")
    table.add_column("engine")
    if several:
        table.add_column("dataset")
    for column in ("PSNR (dB)", "SSIM", "MS-SSIM", "ms/frame"):
        table.add_column(column, justify="right")
    for result in report.results:
        rows = [*(result.datasets.items() if several else []), ("all", result.overall)]
        for dataset, scores in rows:
            values = getattr(scores, gap)
            engine = result.engine if result.engine == result.runs else f"{result.engine} ({result.runs})"
            table.add_row(engine, *([label[dataset]] if several else []), f"{values.psnr:.2f}", f"{values.ssim:.4f}",
                          f"{values.ms_ssim:.4f}", f"{1000 * values.seconds_per_frame:.1f}")
    return table


def per_t_table(report: EvaluationReport) -> Table:
    """Large-gap PSNR of each engine at each t, over all datasets."""
    times = list(report.results[0].overall.large_gap.per_t)
    table = Table(title="large gap: PSNR (dB) per t")
    table.add_column("engine")
    for t in times:
        table.add_column(f"t={t}", justify="right")
    for result in report.results:
        per_t = result.overall.large_gap.per_t
        table.add_row(result.engine, *(f"{per_t[t]['psnr']:.2f}" for t in times))
    return table
