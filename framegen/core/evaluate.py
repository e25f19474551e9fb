"""evaluate: how well each engine recreates real in-between frames (report schema framegen/evaluation).

For every window of a dataset split (frames 0 .. T-1, T = 8 by default), each engine is given
- the large gap: frames 0 and T-1, and asked for 1 .. T-2 at t = k / (T - 1);
- the small gap: frames 0 and 2, and asked for frame 1 at t = 1/2.
Its frames are compared with the real ones by PSNR, SSIM and MS-SSIM (core/metrics.py), per t and
overall (the mean over frames), and its wall time per produced frame is measured. Results are given per
dataset, per shot (in the JSON) and over all datasets together, as a rich table and a JSON report.

Engines: those of core/engines (blend, flow, model, auto) and `minterpolate`: ffmpeg's motion-compensated
frame-rate filter (`minterpolate=fps=N:mi_mode=mci`) run on the two end frames as a tiny 1 fps video, the
usual classical baseline. Its timing includes starting ffmpeg. `model` and `auto` run once per exported
checkpoint given, so the original design and the motion model are compared in one run.

With `gif`, one validation window is written as an animation with a column per engine (real frames
first), every column labelled: the large gap's in-betweens between the two real end frames.
"""

from __future__ import annotations

import math
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from rich.table import Table

from framegen.core import console
from framegen.core.animation import write_animation
from framegen.core.dataset import open_split, to_float
from framegen.core.engines import ENGINE_NAMES, Engine, get_engine, to_uint8
from framegen.core.errors import ExternalToolError, InputError, UsageError
from framegen.core.ffmpeg import ffmpeg_binary, last_error_line
from framegen.core.manifest import MANIFEST_NAME, Manifest, UpstreamRef, upstream_ref
from framegen.core.metrics import all_metrics

EVALUATE_ENGINES = (*ENGINE_NAMES, "minterpolate")
METRICS = ("psnr", "ssim", "ms_ssim")
SMALL_GAP_T = 0.5


class EvaluateConfig(BaseModel):
    """Options of `framegen evaluate`."""

    model_config = ConfigDict(extra="forbid")

    engines: list[str] = Field(default_factory=lambda: ["blend", "flow"])
    checkpoints: list[Path] = Field(default_factory=list)  # exported models for model / auto, each run apart
    gif: Path | None = None  # side-by-side animation of one window, a column per engine
    split: str = "val"
    max_windows: int | None = Field(None, ge=1)  # per dataset, evenly spread; None = all

    @field_validator("engines")
    @classmethod
    def _known_engines(cls, engines: list[str]) -> list[str]:
        unknown = [e for e in engines if e not in EVALUATE_ENGINES]
        if unknown or not engines:
            raise ValueError(f"unknown engine {unknown[0] if unknown else '(none)'!r} "
                             f"(choose from {', '.join(EVALUATE_ENGINES)})")
        return list(dict.fromkeys(engines))


class Scores(BaseModel):
    """Means over the frames of a group (windows x times); per time for the large gap."""

    model_config = ConfigDict(extra="forbid")

    frames: int
    psnr: float
    ssim: float
    ms_ssim: float
    seconds_per_frame: float  # engine wall time per produced frame
    per_t: dict[str, dict[str, float]] = {}  # "1/7" -> {"psnr": .., "ssim": .., "ms_ssim": ..}


class GapScores(BaseModel):
    model_config = ConfigDict(extra="forbid")

    large_gap: Scores
    small_gap: Scores


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


class MinterpolateEngine(Engine):
    """ffmpeg's minterpolate (mci) on a 2-frame, 1 fps video: the frames at t = k / N come out at N fps."""

    name = "minterpolate"

    def interpolate_float(self, image0: np.ndarray, image1: np.ndarray, times: list[float]) -> list[np.ndarray]:
        if image0.shape[2] != 3:
            raise InputError("the minterpolate baseline takes RGB images only")
        steps = math.lcm(*(Fraction(t).limit_denominator(64).denominator for t in times))
        h, w, _ = image0.shape
        end = to_uint8(image1)
        raw = np.stack([to_uint8(image0), end, end]).tobytes()  # minterpolate stops before its last input
        command = [ffmpeg_binary(), "-hide_banner", "-nostdin", "-loglevel", "error",
                   "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "1", "-i", "pipe:0",
                   "-vf", f"minterpolate=fps={steps}:mi_mode=mci", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
        done = subprocess.run(command, input=raw, capture_output=True)
        size = (steps + 1) * h * w * 3
        if done.returncode != 0 or len(done.stdout) < size:
            raise ExternalToolError(f"ffmpeg minterpolate failed: {last_error_line(done.stderr)}")
        frames = np.frombuffer(done.stdout[:size], np.uint8).reshape(steps + 1, h, w, 3)
        return [frames[round(t * steps)].astype(np.float32) / 255.0 for t in times]


def engines_to_run(config: EvaluateConfig) -> list[tuple[str, Engine]]:
    """(label, engine) for each engine asked for; model and auto once per checkpoint (labelled by its run)."""
    runs = []
    for name in config.engines:
        if name == "minterpolate":
            runs.append((name, MinterpolateEngine()))
        elif name in ("model", "auto"):
            several = len(config.checkpoints) > 1
            runs += [(f"{name}:{checkpoint_label(c)}" if several else name, get_engine(name, c))
                     for c in config.checkpoints or [None]]
        else:
            runs.append((name, get_engine(name)))
    return runs


def checkpoint_label(checkpoint: Path) -> str:
    """RUN/export -> RUN's folder name; a model.json path -> its folder's."""
    folder = checkpoint.parent if checkpoint.suffix == ".json" else checkpoint
    return folder.parent.name if folder.name == "export" else folder.name


class Accumulator:
    """Rows (t, psnr, ssim, ms_ssim, seconds) of the frames of one group and gap."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, float, float, float, float]] = []

    def add(self, metrics: dict[str, torch.Tensor], times: list[float], seconds: float) -> None:
        for i, t in enumerate(times):
            self.rows.append((t, *(float(metrics[m][i]) for m in METRICS), seconds / len(times)))

    def scores(self) -> Scores:
        rows = np.array(self.rows)  # (frames, 5)
        means = rows.mean(axis=0)
        per_t = {
            str(Fraction(t).limit_denominator(64)): dict(zip(METRICS, rows[rows[:, 0] == t, 1:4].mean(axis=0).tolist()))
            for t in sorted(set(rows[:, 0].tolist()))
        }
        return Scores(frames=len(rows), **dict(zip(METRICS, means[1:4].tolist())), seconds_per_frame=means[4],
                      per_t=per_t if len(per_t) > 1 else {})


def evaluate(datasets: list[Path], config: EvaluateConfig, report_folder: Path) -> EvaluationReport:
    """Run every engine on the windows of `config.split` of each dataset; the report (to be written in
    `report_folder`, which its dataset references are relative to)."""
    if not datasets:
        raise UsageError("give at least one dataset folder")
    if len(set(datasets)) != len(datasets):
        raise UsageError("a dataset is given twice")
    opened = []
    for folder in map(Path, datasets):
        manifest, array = open_split(folder, config.split)
        indices = spread(len(array), config.max_windows)
        if not indices:
            raise InputError(f"{folder}: the {config.split!r} split has no windows")
        opened.append((folder, manifest, array, indices))
    lengths = {manifest.window_length for _, manifest, _, _ in opened}
    if len(lengths) > 1:
        raise InputError(f"the datasets have different window lengths ({sorted(lengths)}); evaluate them apart")
    length = lengths.pop()
    if length < 3:
        raise InputError(f"windows of {length} frames have no frame in between to evaluate")
    results, samples = [], []
    for label, engine in engines_to_run(config):
        result, sample = evaluate_engine(label, engine, opened, config.split, length)
        results.append(result)
        samples.append(sample)
    if config.gif is not None:
        _, _, array, indices = opened[0]
        real = np.asarray(array[indices[0]])  # uint8 (T, H, W, 3), the sample window
        write_side_by_side(config.gif, ["real", *(r.engine for r in results)], [real, *samples])
    refs = [DatasetRef(path=str(folder), manifest=upstream_ref(report_folder, folder / MANIFEST_NAME),
                       windows=len(indices)) for folder, _, _, indices in opened]
    return EvaluationReport(**EvaluationReport.header(config.model_dump(mode="json")), split=config.split,
                            window_length=length, datasets=refs, results=results)


def spread(count: int, limit: int | None) -> list[int]:
    """`limit` window indices spread evenly over `count` (all of them without a limit)."""
    if limit is None or limit >= count:
        return list(range(count))
    return sorted({round(i * (count - 1) / max(1, limit - 1)) for i in range(limit)})


def evaluate_engine(name: str, engine: Engine, opened: list, split: str,
                    length: int) -> tuple[EngineResult, np.ndarray]:
    """One engine over every chosen window: the large gap (0, T-1 -> 1..T-2) and the small one (0, 2 -> 1).
    Also returns the first window's large-gap animation, uint8 (T, H, W, 3), its real end frames around."""
    gaps = {
        "large_gap": (0, length - 1, list(range(1, length - 1)), [k / (length - 1) for k in range(1, length - 1)]),
        "small_gap": (0, 2, [1], [SMALL_GAP_T]),
    }
    groups: dict[tuple[str, ...], dict[str, Accumulator]] = {}  # ("all",) / (dataset,) / (dataset, shot)
    sample = None
    with console.progress(unit="windows") as bar:
        task = bar.add_task(f"evaluate {name}", total=sum(len(indices) for *_, indices in opened))
        for folder, manifest, array, indices in opened:
            infos = manifest.splits[split].windows
            for index in indices:
                window = np.asarray(array[index])  # uint8 (T, H, W, 3)
                for gap, (first, last, targets, times) in gaps.items():
                    start = time.perf_counter()
                    frames = engine.interpolate(window[first], window[last], times)
                    seconds = time.perf_counter() - start
                    metrics = all_metrics(to_tensor(np.stack(frames)), to_tensor(window[targets]))
                    if gap == "large_gap" and sample is None:
                        sample = np.stack([window[first], *frames, window[last]])
                    for key in (("all",), (str(folder),), (str(folder), infos[index].shot)):
                        groups.setdefault(key, {g: Accumulator() for g in gaps})[gap].add(metrics, times, seconds)
                bar.advance(task)

    def scores(key: tuple[str, ...]) -> GapScores:
        return GapScores(**{gap: accumulator.scores() for gap, accumulator in groups[key].items()})

    shots: dict[str, dict[str, GapScores]] = {}
    for key in groups:
        if len(key) == 2:
            shots.setdefault(key[0], {})[key[1]] = scores(key)
    result = EngineResult(engine=name, runs=engine.name, overall=scores(("all",)),
                          datasets={str(folder): scores((str(folder),)) for folder, *_ in opened}, shots=shots)
    return result, sample


def write_side_by_side(path: Path, labels: list[str], columns: list[np.ndarray], fps: float = 4.0) -> None:
    """An animation of equally long uint8 (T, H, W, 3) clips side by side, each under a label."""
    header = 20  # px
    sheet = np.concatenate(columns, axis=2)  # (T, H, W * columns, 3)
    sheet = np.concatenate([np.full((sheet.shape[0], header, *sheet.shape[2:]), 255, np.uint8), sheet], axis=1)
    width = columns[0].shape[2]
    for frame in sheet:
        for i, label in enumerate(labels):
            cv2.putText(frame, label, (i * width + 4, header - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                        cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_animation(path, list(sheet), fps=fps)


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [0, 1]."""
    return to_float(torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2))


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
