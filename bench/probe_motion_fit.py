"""Does the motion model learn on windows it trains on? A diagnostic for `--arch motion` (issue 7).

    python bench/probe_motion_fit.py MOVIE_DATASET [SYNTH_DATASET] [--windows 64] [--steps 240]
                                     [--flow-weight 0.01] [--lr 4e-4] [--width 48] [--crop 128] [--batch 4]
                                     [--teacher-only]

Takes `--windows` fixed training crops (half from each dataset), computes their starting motion and teacher
flows once, then trains a fresh model on them alone (Adam, batches of --batch, no augmentation) and prints, six
times: the mean loss terms since the last report, the model's PSNR on those same windows and on the movie's
validation windows (the `flow` engine's at step 0: every output layer starts at zero). A model that can
learn its task raises the first PSNR and lowers the flow term (the px distance to the teacher, times
--flow-weight). With --teacher-only the loss is that distance alone (can the flow blocks fit the teacher
at all?). On 2 cores: about 1.5 s a step at width 48 and batch 4.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from framegen.core.dataset import WindowDataset, to_float
from framegen.core.losses import MotionLoss, MotionLossConfig
from framegen.core.metrics import psnr
from framegen.core.models.motion import MotionConfig, MotionInterpolator, training_inputs
from framegen.core.trainer import window_times

def cached_windows(dataset: WindowDataset, count: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`count` evenly spaced windows (their random crop seeded by index) and their training inputs:
    uint8 (N, T, 3, H, W), motion (N, T, 2, H, W) px, teacher (N, T - 2, 4, H, W) px."""
    windows, motions, teachers = [], [], []
    for index in np.linspace(0, len(dataset) - 1, min(count, len(dataset))).astype(int).tolist():
        torch.manual_seed(index)
        window = dataset[index]
        times = window_times(1, window.shape[0], torch.device("cpu"))[0]
        model_inputs, loss_inputs = training_inputs(window, times)
        windows.append(window)
        motions.append(model_inputs["motion"])
        teachers.append(loss_inputs["teacher"])
    return torch.stack(windows), torch.stack(motions), torch.stack(teachers)


@torch.no_grad()
def mean_psnr(model: MotionInterpolator, windows: torch.Tensor, motions: torch.Tensor) -> float:
    """Mean PSNR of the in-betweens of uint8 windows (N, T, 3, H, W), given their starting motion."""
    model.eval()
    values = []
    for first in range(0, len(windows), 8):
        window = to_float(windows[first : first + 8])
        times = window_times(window.shape[0], window.shape[1], window.device)
        frames = model(window[:, 0], window[:, -1], times, motion=motions[first : first + 8])
        values.append(psnr(frames[:, 1:-1].flatten(0, 1).clamp(0, 1), window[:, 1:-1].flatten(0, 1)))
    model.train()
    return float(torch.cat(values).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("datasets", type=Path, nargs="+", help="the movie dataset first, then others to mix in")
    parser.add_argument("--windows", type=int, default=64)
    parser.add_argument("--steps", type=int, default=240)
    parser.add_argument("--flow-weight", type=float, default=MotionLossConfig().flow)
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--width", type=int, default=MotionConfig().width)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--teacher-only", action="store_true", help="train on the distance to the teacher alone")
    args = parser.parse_args()
    torch.manual_seed(0)
    started = time.perf_counter()
    per_dataset = args.windows // len(args.datasets)
    parts = [cached_windows(WindowDataset(folder, "train", crop=args.crop, augment=True), per_dataset)
             for folder in args.datasets]
    windows, motions, teachers = (torch.cat(part) for part in zip(*parts))
    val_windows, val_motions, _ = cached_windows(WindowDataset(args.datasets[0], "val"), 10**9)
    print(f"{len(windows)} training crops of {args.crop}, {len(val_windows)} validation windows; inputs in "
          f"{time.perf_counter() - started:.0f} s")

    model = MotionInterpolator(MotionConfig(width=args.width))
    criterion = MotionLoss(MotionLossConfig(flow=args.flow_weight))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    def psnr_text() -> str:
        return (f"PSNR on the training crops {mean_psnr(model, windows, motions):.2f} dB, "
                f"validation {mean_psnr(model, val_windows, val_motions):.2f} dB")

    print(f"{sum(p.numel() for p in model.parameters())} parameters; step 0: {psnr_text()}")
    order = torch.Generator().manual_seed(1)
    report_every = max(1, args.steps // 6)
    sums: dict[str, float] = {}
    started = time.perf_counter()
    for step in range(1, args.steps + 1):
        pick = torch.randint(0, len(windows), (args.batch,), generator=order)
        window = to_float(windows[pick])  # (B, T, 3, H, W) in [0, 1]
        times = window_times(args.batch, window.shape[1], window.device)
        outputs = model(window[:, 0], window[:, -1], times, intermediates=True, motion=motions[pick])
        if args.teacher_only:
            terms = {"flow": criterion.flow_distance(outputs["flows"][:, 1:-1], window, teachers[pick])}
        else:
            terms = criterion(outputs, window, teacher=teachers[pick])
        optimizer.zero_grad(set_to_none=True)
        sum(terms.values()).backward()
        optimizer.step()
        for name, value in terms.items():
            sums[name] = sums.get(name, 0.0) + float(value.detach())
        if step % report_every == 0:
            losses = " ".join(f"{name} {total / report_every:.4f}" for name, total in sums.items())
            print(f"step {step} ({time.perf_counter() - started:.0f} s): {losses} | {psnr_text()}", flush=True)
            sums = {}


if __name__ == "__main__":
    main()
