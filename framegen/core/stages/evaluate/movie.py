"""evaluate MOVIE: how well each engine would double this movie's frame rate, measured on the movie itself
(report schema framegen/movie-evaluation).

Shots and held frames come from `framegen filter`'s detectors with the user's FilterConfig (the content
detector, as video mode). In each shot the distinct drawings S0, S1, ... are kept (a held frame, or a frame
that does not differ from the one before it, is the same drawing again: never counted twice); the even ones
are the half-rate "input movie", and every odd drawing
S2k+1 that has a next even S2k+2 is made back from (S2k, S2k+2) at t = 1/2 by every engine and scored
against the real one (PSNR / SSIM / MS-SSIM on RGB, frames rounded to 8 bits), per shot and overall, with
the time per frame. Shots are scored apart, so no frame is ever made across a cut. `score_every` N scores
one of every N odd drawings of a shot (the first, then every Nth).

Rows: each engine as in dataset mode, labelled by what runs (`flow`, `model:rife4`); a network with
`ensemble` also as `+ensemble` (engines/model.py), and with `adapt` also as `+adapt`: a copy of the network
adapts to the shot's even drawings only (training/adapt.py, the code `interpolate --adapt` runs), then makes
the odd ones, which it never saw; its weights are put back before the next shot.

Memory: one shot's drawings at a time (a long shot of a large movie holds many; use --start/--end).
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict
from rich.table import Table

from framegen.core.engines import Engine, Fetch
from framegen.core.engines.model import ModelEngine
from framegen.core.errors import InputError, UsageError
from framegen.core.manifest import Manifest
from framegen.core.media.convert import images_to_tensor
from framegen.core.media.metrics import all_metrics
from framegen.core.media.movie import MovieReader, probe_movie
from framegen.core.progress import progress
from framegen.core.scenes import MovieScenes, analyse_movie
from framegen.core.scoring import Accumulator, Scores
from framegen.core.stages.evaluate import EvaluateConfig, checkpoint_label, engines_to_run
from framegen.core.training.adapt import CropPool, ShotAdapter
from framegen.core.training.cycle import CYCLE_ARCHS

MIDPOINT = [0.5]


class ShotInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: int  # frame positions [start, end) in the part of the movie read
    end: int
    drawings: int  # distinct drawings (held frames not counted)
    scored: int  # odd drawings made and scored


class MovieEngineResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    engine: str  # as asked for
    runs: str  # what ran: flow, model:rife4, model:rife4+adapt, model:rife4+ensemble, ...
    overall: Scores
    shots: dict[str, Scores]  # by shot number, 1 = the first shot read
    adapt_seconds: float = 0.0  # adaptation, all shots (not in seconds_per_frame)
    adaptation: dict[str, str] = {}  # shot number -> what adaptation did there


class MovieEvaluationReport(Manifest):
    SCHEMA = "framegen/movie-evaluation"
    SCHEMA_VERSION = 1

    movie: str  # as given
    shots: dict[str, ShotInfo]
    results: list[MovieEngineResult]


@dataclass
class Row:
    """One row of the report while it is measured."""

    engine: str
    runs: str
    accumulators: dict[str, Accumulator] = field(default_factory=dict)  # "all" and each shot number
    adapt_seconds: float = 0.0
    adaptation: dict[str, str] = field(default_factory=dict)

    def add(self, shot: str, metrics: dict, seconds: float) -> None:
        for key in ("all", shot):
            self.accumulators.setdefault(key, Accumulator()).add(metrics, MIDPOINT, seconds)

    def result(self) -> MovieEngineResult:
        shots = {key: a.scores() for key, a in self.accumulators.items() if key != "all"}
        return MovieEngineResult(engine=self.engine, runs=self.runs, overall=self.accumulators["all"].scores(),
                                 shots=shots, adapt_seconds=self.adapt_seconds, adaptation=self.adaptation)


@dataclass
class Run:
    """One engine of the report and its rows: plain, and for a network +ensemble, +adapt, +adapt+ensemble."""

    engine: Engine
    label: str
    adapter: ShotAdapter | None
    rows: dict[tuple[bool, bool], Row]  # (adapted, ensemble) -> row


def movie_runs(config: EvaluateConfig, fetch: Fetch | None = None) -> list[Run]:
    """The engines of `config`, each with its rows; UsageError for --adapt without a network that adapts.
    `fetch`: how `auto` installs published weights when none are (engines.get_engine)."""
    runs = []
    for name, engine in engines_to_run(config, fetch):
        network = isinstance(engine, ModelEngine)
        label = engine.name if not network else f"model:{network_label(engine, config, name)}"
        adapts = config.adapt and network and engine.info is not None and engine.info.arch in CYCLE_ARCHS
        variants = [(a, e) for a in ((False, True) if adapts else (False,))
                    for e in ((False, True) if config.ensemble and network else (False,))]
        rows = {(a, e): Row(name, label + ("+adapt" if a else "") + ("+ensemble" if e else "")) for a, e in variants}
        adapter = ShotAdapter(engine.generator, config.adaptation, engine.device) if adapts else None
        runs.append(Run(engine, label, adapter, rows))
    if config.adapt and not any(run.adapter for run in runs):
        raise UsageError(f"--adapt needs a network that adapts ({', '.join(CYCLE_ARCHS)}): add --engine model "
                         "--checkpoint rife4")
    return runs


def network_label(engine: ModelEngine, config: EvaluateConfig, name: str) -> str:
    """The network's name in a row label: the checkpoint given (rife4, a run's folder name), else its arch."""
    if len(config.checkpoints) == 1:
        return checkpoint_label(config.checkpoints[0])
    return engine.info.arch if engine.info is not None else name


def evaluate_movie(movie: Path, config: EvaluateConfig, fetch: Fetch | None = None) -> MovieEvaluationReport:
    """Score every engine of `config` on the odd drawings of `movie` (see the module docstring); `fetch`: as
    for movie_runs."""
    info = probe_movie(movie)
    scenes = analyse_movie(movie, info, config.filter, config.start, config.end)
    shots = shot_infos(scenes, config.score_every)
    if not any(shot.scored for shot in shots.values()):
        raise InputError(f"{movie}: no shot has three distinct drawings, so no drawing can be made back and scored")
    runs = movie_runs(config, fetch)
    rng = np.random.default_rng(config.adaptation.seed)
    total = sum(shot.scored for shot in shots.values()) * sum(len(run.rows) for run in runs)
    with progress(unit="frames") as bar, MovieReader(movie, info, 0, config.start, config.end) as frames:
        task = bar.add_task("evaluate", total=total)
        for number, drawings in shot_drawings(iter(frames), scenes):
            targets = scored_targets(len(drawings), config.score_every)
            if not targets:
                continue
            evens = drawings[0::2]
            pool = CropPool.collect(iter(evens), len(evens), config.adaptation, rng) if config.adapt else None
            for run in runs:
                score_run(run, number, drawings, targets, pool, lambda: bar.advance(task))
    return MovieEvaluationReport(**MovieEvaluationReport.header(config.model_dump(mode="json")), movie=str(movie),
                                 shots=shots, results=[row.result() for run in runs for row in run.rows.values()])


def shot_infos(scenes: MovieScenes, score_every: int) -> dict[str, ShotInfo]:
    infos = {}
    distinct = scenes.distinct()
    for number, (start, end) in enumerate(scenes.shots(), 1):
        drawings = int(np.count_nonzero(distinct[start:end]))
        infos[str(number)] = ShotInfo(start=start, end=end, drawings=drawings,
                                      scored=len(scored_targets(drawings, score_every)))
    return infos


def scored_targets(drawings: int, score_every: int) -> list[int]:
    """The odd drawings 2k+1 of a shot of `drawings` that have both neighbours, one in every `score_every`."""
    return [2 * k + 1 for k in range((drawings - 1) // 2)][::score_every]


def shot_drawings(frames, scenes: MovieScenes):
    """(shot number, its distinct drawings: uint8 (H, W, 3) in order) for each shot, reading `frames` once."""
    for number, (_, drawings) in enumerate(scenes.shot_drawings(frames), 1):
        yield str(number), list(drawings)


def score_run(run: Run, shot: str, drawings: list[np.ndarray], targets: list[int], pool: CropPool | None,
              advance) -> None:
    """Score the rows of one engine on one shot; its +adapt rows inside one adaptation to the shot's evens."""
    for adapted in sorted({a for a, _ in run.rows}):
        context = run.adapter.adapted(pool, (len(drawings) + 1) // 2) if adapted else nullcontext()
        with context as report:
            for (a, ensemble), row in run.rows.items():
                if a != adapted:
                    continue
                if report is not None:
                    row.adaptation[shot] = report.summary()
                    row.adapt_seconds += report.seconds
                if isinstance(run.engine, ModelEngine):
                    run.engine.ensemble = ensemble
                score_targets(run.engine, row, shot, drawings, targets, advance)


def score_targets(engine: Engine, row: Row, shot: str, drawings: list[np.ndarray], targets: list[int],
                  advance) -> None:
    for target in targets:
        begin = time.perf_counter()
        made = engine.interpolate(drawings[target - 1], drawings[target + 1], MIDPOINT)
        seconds = time.perf_counter() - begin
        row.add(shot, all_metrics(images_to_tensor(np.stack(made)), images_to_tensor(drawings[target][None])),
                seconds)
        advance()


def movie_table(report: MovieEvaluationReport) -> Table:
    """A row per engine: the overall scores, time per frame, adaptation time."""
    scored = sum(shot.scored for shot in report.shots.values())
    table = Table(title=f"{report.movie}: odd drawings made from their even neighbours ({scored} scored)")
    for column in ("engine", "PSNR (dB)", "SSIM", "MS-SSIM", "ms/frame", "adapt (s)"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    for result in report.results:
        o = result.overall
        table.add_row(folded(result.runs), f"{o.psnr:.2f}", f"{o.ssim:.4f}", f"{o.ms_ssim:.4f}",
                      f"{1000 * o.seconds_per_frame:.1f}", f"{result.adapt_seconds:.0f}" if result.adaptation else "")
    return table


def shots_table(report: MovieEvaluationReport) -> Table:
    """PSNR per shot (rows) and engine (columns)."""
    table = Table(title="PSNR (dB) per shot (its frames and drawings are in the report)")
    for column in ("shot", "scored", *(folded(r.runs, 0) for r in report.results)):
        table.add_column(column, justify="right")
    for number, shot in report.shots.items():
        cells = [f"{r.shots[number].psnr:.2f}" if number in r.shots else "-" for r in report.results]
        table.add_row(number, str(shot.scored), *cells)
    return table


def folded(label: str, width: int = 20) -> str:
    """A row label longer than `width` on several lines, one `+variant` a line (tables stay in 80 columns)."""
    return label.replace("+", "\n+") if len(label) > width else label
