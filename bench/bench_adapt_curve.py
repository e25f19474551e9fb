"""PSNR against adaptation steps, per shot: the curve behind `--adapt`'s defaults.

For every shot of a movie, as `framegen evaluate MOVIE --adapt` does (training/adapt.py, stages/evaluate/movie.py):
the network adapts to the shot's even drawings and makes its odd drawings; here the odd drawings are scored
after 0, and after each of the step counts given, in one adaptation run per shot (the stopping rule is not
applied: this is the raw curve). Prints one line per shot and a mean line; JSON with --json.

    python bench/bench_adapt_curve.py ../shared/data/sample_movie.mp4 --checkpoint rife4 --steps 5,10,20,30
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from framegen.core.engines import get_engine
from framegen.core.media.convert import images_to_tensor
from framegen.core.media.metrics import psnr
from framegen.core.media.movie import MovieReader, probe_movie
from framegen.core.scenes import FilterConfig, analyse_movie
from framegen.core.stages.evaluate.movie import scored_targets, shot_drawings
from framegen.core.training.adapt import CropPool, ShotAdapter
from framegen.core.training.adapt_config import AdaptConfig


def mean_psnr(engine, drawings: list[np.ndarray], targets: list[int]) -> float:
    made = [engine.interpolate(drawings[t - 1], drawings[t + 1], [0.5])[0] for t in targets]
    real = np.stack([drawings[t] for t in targets])
    return float(psnr(images_to_tensor(np.stack(made)), images_to_tensor(real)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("movie", type=Path)
    parser.add_argument("--checkpoint", default="rife4")
    parser.add_argument("--steps", default="5,10,20,30")
    parser.add_argument("--score-every", type=int, default=3)
    parser.add_argument("--lr", type=float, default=AdaptConfig().lr)
    parser.add_argument("--batch", type=int, default=AdaptConfig().batch)
    parser.add_argument("--crop", type=int, default=AdaptConfig().crop)
    parser.add_argument("--pull", type=float, default=AdaptConfig().pull)
    parser.add_argument("--end", type=float, default=None)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    marks = [int(s) for s in args.steps.split(",")]
    engine = get_engine("model", args.checkpoint, "cpu")
    info = probe_movie(args.movie)
    scenes = analyse_movie(args.movie, info, FilterConfig(), 0.0, args.end)
    rng = np.random.default_rng(0)
    rows = {}
    print(f"{args.checkpoint} lr {args.lr} batch {args.batch} crop {args.crop} pull {args.pull}; torch threads "
          f"{torch.get_num_threads()}; PSNR (dB) of the odd drawings after 0, {args.steps} steps", flush=True)
    with MovieReader(args.movie, info, 0, 0.0, args.end) as frames:
        for shot, drawings in shot_drawings(iter(frames), scenes):
            targets = scored_targets(len(drawings), args.score_every)
            evens = drawings[0::2]
            if not targets or len(evens) < 3:
                continue
            config = AdaptConfig(lr=args.lr, batch=args.batch, crop=args.crop, pull=args.pull)
            pool = CropPool.collect(iter(evens), len(evens), config, rng)
            adapter = ShotAdapter(engine.generator, config, engine.device)
            curve = [mean_psnr(engine, drawings, targets)]
            start = time.perf_counter()
            optimiser, generator = adapter.optimiser(), torch.Generator().manual_seed(0)
            for done, mark in zip([0, *marks], marks):
                adapter.steps(pool, mark - done, optimiser, generator)
                curve.append(mean_psnr(engine, drawings, targets))
            seconds = (time.perf_counter() - start) / marks[-1]
            adapter.restore()
            rows[shot] = {"frames": len(targets), "curve": curve, "seconds_per_step": seconds}
            gains = " ".join(f"{c - curve[0]:+.2f}" for c in curve[1:])
            print(f"shot {shot}: {len(targets)} scored, {curve[0]:.2f} dB, gains {gains}, {seconds:.1f} s/step",
                  flush=True)
    weights = np.array([r["frames"] for r in rows.values()])
    curves = np.array([r["curve"] for r in rows.values()])
    overall = (curves * weights[:, None]).sum(0) / weights.sum()
    print("overall (frame-weighted): " + " ".join(f"{s}: {v:.2f}" for s, v in zip([0, *marks], overall)))
    print("shots up at the last mark: " + f"{int((curves[:, -1] > curves[:, 0]).sum())} of {len(curves)}")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"movie": str(args.movie), "json": str(args.json)},
                                         "shots": rows, "overall": overall.tolist()}, indent=1))


if __name__ == "__main__":
    main()
