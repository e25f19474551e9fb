"""filter: scene cuts, shots and held frames of an extracted movie (manifest schema framegen/filter).

Reads the frames folder of `extract` and writes two files beside its frames:
    filter.json          FilterManifest: cuts, shots (with their timing: on ones, twos or threes),
                         held frames; all as source frame indices; upstream = the frames manifest
    filter_scores.csv    one row per frame: the scores the decisions were made from

Cuts, default detector `content` (no model weights, a few ms a frame): the cut score of a frame is the
mean absolute RGB difference (0-255) to the previous frame on a 64-pixel-wide thumbnail. A frame starts
a new shot when its score is at least `cut_threshold`, at least `cut_ratio` times the mean score of its
`ratio_window` neighbours on each side (so steady fast motion does not read as a cut), and the shot
before it is at least `min_shot_frames` long. On the sample movie: cut scores >= 66, every other frame
<= 10.

Cuts, `vgg16` (the seed's method): VGG16 feature maps (torchvision, ImageNet weights) of the first and
last frame of each 8-frame window; a window whose two maps differ by more than `vgg_threshold` (cosine
distance) is dropped. Windows overlap by one frame, so no cut can hide between two windows. Shots are the
runs of kept windows; a cut is only located to its window, and the frames of a dropped window belong to
no shot. Weights come from torchvision's cache or `--vgg-weights FILE`; there is never a download.

Held frames (either detector): drawings held for 2-3 frames ("on twos", "on threes"). The change score
of a frame is the HOLD_PIXELS-th largest pixel difference (max over RGB, 0-255) to the previous frame, at
a working size of at most ANALYSIS_SIDE pixels; ranking pixels ignores a few pixels of compression noise.
A frame repeats the previous one when its change is below `hold_threshold`. On the sample movie a
repeated drawing scores <= 7 (H.264 noise) and a new drawing of the `star` shot >= 27 at any working
size from 240 to 480 pixels; on small, noisy test clips a repeat scores up to 13.
A shot is on twos (threes) when its drawing changes land on every second (third) frame: changes are
rarely on adjacent frames and their median spacing is 2 (3). In such a shot a frame that repeats the
previous one is held; in a still longer than two beats the timing goes on (one new drawing every 2 or
3 frames), as on the animator's timing sheet. In a shot on ones nothing is held: a still there is a
still (`build-dataset` drops windows that do not move).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from framegen.core import console
from framegen.core.errors import InputError, UsageError
from framegen.core.extract import FramesManifest, iter_frames, read_frames_manifest
from framegen.core.manifest import (
    MANIFEST_NAME,
    Manifest,
    atomic_write_bytes,
    check_upstream,
    read_manifest,
    resolve_inside,
    upstream_ref,
    write_manifest,
)
from framegen.core.workspace import folder_lock

FILTER_NAME = "filter.json"
SCORES_NAME = "filter_scores.csv"
THUMB_WIDTH = 64  # cut scores are computed on thumbnails this wide
ANALYSIS_SIDE = 320  # held frames are compared at most this large
HOLD_PIXELS = 16  # a frame "changed" when at least this many pixels differ by hold_threshold or more
VGG_WINDOW = 8  # frames per window of the vgg16 detector (the seed's)
VGG_FILE = "vgg16-397923af.pth"  # torchvision's file name for its ImageNet VGG16 weights
VGG_URL = "https://download.pytorch.org/models/" + VGG_FILE
VGG_BATCH = 8


class FilterConfig(BaseModel):
    """Options of `framegen filter`."""

    model_config = ConfigDict(extra="forbid")

    detector: Literal["content", "vgg16"] = "content"
    cut_threshold: float = Field(20.0, gt=0)  # minimum cut score (mean abs RGB difference, 0-255)
    cut_ratio: float = Field(3.0, ge=1)  # ... and this many times the neighbours' mean score
    ratio_window: int = Field(2, ge=1)  # neighbours on each side
    min_shot_frames: int = Field(8, ge=1)
    hold_threshold: float = Field(16.0, gt=0)  # pixel difference (0-255) that counts as a change
    vgg_threshold: float = Field(0.5, gt=0)  # cosine distance between feature maps that drops a window
    vgg_weights: Path | None = None


class Shot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first: int  # source frame index of its first frame
    last: int  # ... and of its last frame (inclusive)
    frames: int  # extracted frames in it
    timing: int  # 1 = on ones, 2 = on twos, 3 = on threes


class FilterManifest(Manifest):
    SCHEMA = "framegen/filter"
    SCHEMA_VERSION = 1

    detector: str
    frame_count: int
    cuts: list[int]  # source frame index of the first frame of every shot but the first
    shots: list[Shot]
    held_frames: list[int]  # source frame indices of frames that repeat the previous drawing
    scores_file: str  # relative to the frames folder


def read_filter_manifest(folder: Path) -> tuple[FilterManifest, FramesManifest]:
    """The filter manifest of a frames folder and the frames manifest it was made from (sha256 checked)."""
    manifest = read_manifest(FilterManifest, folder, FILTER_NAME)
    upstream = check_upstream(manifest, folder)
    if upstream != (Path(folder) / MANIFEST_NAME).resolve():
        raise InputError(f"{folder}: {FILTER_NAME} was made from {manifest.upstream.path}, not from this folder")
    return manifest, read_frames_manifest(folder)


def filter_frames(folder: Path, config: FilterConfig, overwrite: bool = False) -> FilterManifest:
    """Find cuts, shots and held frames of the frames folder `folder`; write filter.json last."""
    folder = Path(folder)
    frames = read_frames_manifest(folder)
    if frames.frame_count == 0:
        raise InputError(f"{folder}: the frames manifest lists no frames")
    with folder_lock(folder):
        if (folder / FILTER_NAME).exists() and not overwrite:
            raise UsageError(f"{folder}: already filtered ({FILTER_NAME} exists; use --overwrite to redo it)")
        network = vgg16_features(config.vgg_weights) if config.detector == "vgg16" else None  # may refuse: first
        (folder / FILTER_NAME).unlink(missing_ok=True)
        cut_scores, changes, vgg_distances = frame_scores(folder, frames, network)
        ratios = adaptive_ratios(cut_scores, config.ratio_window)
        if network is None:
            cut_positions = content_cuts(cut_scores, ratios, config)
            spans = shot_spans(cut_positions, len(cut_scores))
        else:
            spans = vgg_spans(vgg_distances, len(cut_scores), config.vgg_threshold)
            cut_positions = [start for start, _ in spans[1:]]
        moved = changes >= config.hold_threshold
        shots, held_positions = [], []
        for start, end in spans:
            timing = shot_timing(moved[start:end])
            held_positions += [start + p for p in held_in_shot(moved[start:end], timing)]
            shots.append(
                Shot(first=frames.frames[start].source_index, last=frames.frames[end - 1].source_index,
                     frames=end - start, timing=timing)
            )
        write_scores(folder / SCORES_NAME, frames, cut_scores, ratios, changes, moved, cut_positions, held_positions)
        manifest = FilterManifest(
            **FilterManifest.header(config.model_dump(mode="json"), upstream_ref(folder, folder / MANIFEST_NAME)),
            detector=config.detector,
            frame_count=frames.frame_count,
            cuts=[frames.frames[p].source_index for p in cut_positions],
            shots=shots,
            held_frames=[frames.frames[p].source_index for p in held_positions],
            scores_file=SCORES_NAME,
        )
        write_manifest(manifest, folder, FILTER_NAME)
    return manifest


def analysis_images(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thumbnail, working image, the frame) of one frame, all uint8 (h, w, 3) RGB."""
    h, w = image.shape[:2]
    thumb = cv2.resize(image, (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w))), interpolation=cv2.INTER_AREA)
    scale = min(1.0, ANALYSIS_SIDE / max(h, w))
    work = image if scale == 1.0 else cv2.resize(
        image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    return thumb, work, image


def change_score(work: np.ndarray, previous: np.ndarray) -> float:
    """The HOLD_PIXELS-th largest pixel difference (max over RGB, 0-255) between two working images."""
    difference = cv2.absdiff(work, previous)
    per_pixel = np.maximum(np.maximum(difference[..., 0], difference[..., 1]), difference[..., 2]).ravel()
    rank = min(HOLD_PIXELS, per_pixel.size)
    return float(np.partition(per_pixel, -rank)[-rank])


def frame_scores(
    folder: Path, frames: FramesManifest, network
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Per frame (first frame 0): the cut score and the change score to the previous frame; with
    `network`, the vgg16 distances of the windows. One pass; two frames in memory (plus a vgg16 batch)."""
    n = frames.frame_count
    cut_scores = np.zeros(n, np.float32)
    changes = np.zeros(n, np.float32)
    boundaries = set(range(0, n, VGG_WINDOW - 1)) | {n - 1}  # window w spans [7w, 7w + 7]
    vgg_inputs, vgg_features = [], []
    previous = None
    with console.progress(unit="frames") as bar:
        task = bar.add_task("filter", total=n)
        for position, (_, (thumb, work, image)) in enumerate(iter_frames(folder, frames.frames, analysis_images)):
            if previous is not None:
                if work.shape != previous[1].shape:
                    name = frames.frames[position].file
                    raise InputError(f"{folder}: frame {name} is not the size of the frames before it")
                cut_scores[position] = cv2.absdiff(thumb, previous[0]).mean()
                changes[position] = change_score(work, previous[1])
            previous = (thumb, work)
            if network is not None and position in boundaries:
                vgg_inputs.append(image)
                if len(vgg_inputs) == VGG_BATCH:
                    vgg_features.append(network(vgg_inputs))
                    vgg_inputs = []
            bar.advance(task)
    if network is None:
        return cut_scores, changes, None
    if vgg_inputs:
        vgg_features.append(network(vgg_inputs))
    features = np.concatenate(vgg_features)  # (boundaries, D), unit length
    distances = 1.0 - (features[:-1] * features[1:]).sum(axis=1)
    return cut_scores, changes, distances


def adaptive_ratios(scores: np.ndarray, window: int) -> np.ndarray:
    """Each score divided by the mean score of its `window` neighbours on each side (inside the movie)."""
    n = len(scores)
    ratios = np.zeros(n, np.float32)
    for i in range(1, n):
        neighbours = np.concatenate([scores[max(1, i - window) : i], scores[i + 1 : i + 1 + window]])
        ratios[i] = scores[i] / (neighbours.mean() + 1e-3) if neighbours.size else np.inf
    return ratios


def content_cuts(scores: np.ndarray, ratios: np.ndarray, config: FilterConfig) -> list[int]:
    """Frame positions that start a new shot."""
    cuts: list[int] = []
    for i in range(1, len(scores)):
        shot_length = i - (cuts[-1] if cuts else 0)
        strong = scores[i] >= config.cut_threshold and ratios[i] >= config.cut_ratio
        if strong and shot_length >= config.min_shot_frames:
            cuts.append(i)
    return cuts


def shot_spans(cuts: list[int], n: int) -> list[tuple[int, int]]:
    """[start, end) frame positions of the shots between cuts."""
    bounds = [0, *cuts, n]
    return list(zip(bounds[:-1], bounds[1:]))


def vgg_spans(distances: np.ndarray, n: int, threshold: float) -> list[tuple[int, int]]:
    """[start, end) frame positions of the runs of kept vgg16 windows (window w spans [7w, 7w + 7])."""
    step = VGG_WINDOW - 1
    spans: list[tuple[int, int]] = []
    for w, distance in enumerate(distances):
        if distance > threshold:
            continue
        start, end = w * step, min(n, w * step + VGG_WINDOW)
        if spans and spans[-1][1] > start:  # overlaps the previous kept window by one frame: same shot
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def shot_timing(moved: np.ndarray) -> int:
    """1, 2 or 3: how many frames each drawing of the shot lasts. `moved[i]`: frame i differs from frame
    i - 1 (moved[0], the shot's first frame, is ignored)."""
    changes = np.flatnonzero(moved[1:]) + 1
    if len(changes) < 4:
        return 1
    adjacent = np.count_nonzero(np.diff(changes) == 1)
    if adjacent > 0.25 * len(changes):
        return 1
    spacing = np.median(np.diff(np.concatenate([[0], changes])))
    return int(np.clip(round(spacing), 2, 3))


def held_in_shot(moved: np.ndarray, timing: int) -> list[int]:
    """Positions (inside the shot) of the frames that repeat the previous drawing."""
    if timing == 1:
        return []
    starts = [0, *(np.flatnonzero(moved[1:]) + 1).tolist(), len(moved)]
    held = []
    for start, end in zip(starts[:-1], starts[1:]):
        length = end - start
        held += [start + j for j in range(1, length) if length <= 2 * timing or j % timing]
    return held


def write_scores(path: Path, frames: FramesManifest, cut_scores, ratios, changes, moved, cuts, held) -> None:
    cut_set, held_set = set(cuts), set(held)
    text = io.StringIO()
    table = csv.writer(text, lineterminator="\n")
    table.writerow(["source_index", "timestamp", "cut_score", "cut_ratio", "change", "moved", "cut", "held"])
    for i, frame in enumerate(frames.frames):
        table.writerow([
            frame.source_index, f"{frame.timestamp:.6f}", f"{cut_scores[i]:.4f}", f"{min(ratios[i], 1e6):.4f}",
            f"{changes[i]:.1f}", int(moved[i]), int(i in cut_set), int(i in held_set),
        ])
    atomic_write_bytes(path, text.getvalue().encode())


def read_moved(folder: Path, manifest: FilterManifest, frames: FramesManifest) -> dict[int, bool]:
    """From filter_scores.csv: source frame index -> whether the frame differs from the previous one."""
    path = resolve_inside(folder, manifest.scores_file)
    try:
        rows = list(csv.DictReader(path.read_text().splitlines()))
        moved = {int(row["source_index"]): row["moved"] == "1" for row in rows}
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise InputError(f"{path}: unreadable filter scores ({e}); rerun filter with --overwrite") from None
    if len(moved) != frames.frame_count:
        raise InputError(f"{path}: {len(moved)} rows for {frames.frame_count} frames; rerun filter with --overwrite")
    return moved


def vgg16_weights_path(weights: Path | None) -> Path:
    """`weights` if given, else torchvision's cached ImageNet VGG16 file; refuse (one line) when absent."""
    import torch

    if weights is not None:
        if not Path(weights).is_file():
            raise InputError(f"{weights}: no such VGG16 weights file")
        return Path(weights)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / VGG_FILE
    if not cached.is_file():
        raise InputError(
            f"VGG16 weights not found at {cached}: download {VGG_URL} to that path, or pass --vgg-weights FILE "
            "(or use the default detector, which needs no weights)"
        )
    return cached


def vgg16_features(weights: Path | None):
    """A function: list of uint8 (H, W, 3) RGB frames -> float (N, D) unit-length VGG16 feature maps."""
    import torch
    from torchvision.models.vgg import cfgs, make_layers

    path = vgg16_weights_path(weights)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and torch errors all mean the same to the user
        raise InputError(f"{path}: not a readable PyTorch weights file ({type(e).__name__})") from None
    network = make_layers(cfgs["D"])  # VGG16's convolutional part
    prefix = "features."
    state = state if isinstance(state, dict) else {}
    features_state = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
    try:
        network.load_state_dict(features_state)
    except RuntimeError:
        raise InputError(f"{path}: does not hold torchvision VGG16 weights (features.* tensors)") from None
    network.eval()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def embed(images: list[np.ndarray]) -> np.ndarray:
        batch = np.stack([cv2.resize(image, (224, 224), interpolation=cv2.INTER_AREA) for image in images])
        x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(255.0)  # (N, 3, 224, 224) in [0, 1]
        with torch.inference_mode():
            maps = network((x - mean) / std).flatten(1)  # (N, 512 * 7 * 7)
        return torch.nn.functional.normalize(maps, dim=1).numpy()

    return embed
