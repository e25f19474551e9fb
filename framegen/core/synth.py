"""Synthetic training windows with exact ground truth: the library behind `framegen synth`.

A scene is a background and a few layers that move along smooth random trajectories (translation,
rotation, scale and a slight non-rigid wobble), occlude each other and enter or leave the frame. Layers
look like flat-colour cartoon shapes with dark outlines (polygons, ellipses, blobs, thick strokes) or like
shapes cut from textures: real images from `--textures`, else procedural noise, gradients and stripes.

A scene is a pure function of (seed, scene index, t), with t continuous and running from 0 to 1 across
the window: `Scene.render(t)` is the exact ground truth at any t. Frame k of a stored window is
`render(drawing_time(k))`, which is `render(k / (T - 1))` unless the window is held on twos, and the
in-between at any other t is one call away.

Per window, drawn from the scene's own RNG:
- held frames "on twos" (`hold_rate`): frames 2j and 2j+1 show the drawing of time 2j / (T - 1);
- a global lighting change (`lighting`): brightness and colour gains that drift across the window;
- motion blur (`motion_blur`): the frame at t averages the scene over a shutter interval around t.

Speed: each layer is drawn once per scene as a premultiplied RGBA sprite and warped per frame by an
affine over its bounding box only (cv2.warpAffine), or by cv2.remap for wobbling layers.

`write_synth_dataset` writes the dataset format of framegen.core.dataset (kind "synthetic") with worker
processes; each window has its own seed (seed, index), so the bytes do not depend on the worker count.
`SynthDataset` renders the same windows on the fly inside a training loader.
"""

from __future__ import annotations

import colorsys
import math
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import resource_tracker
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

import cv2
import numpy as np
from numpy.lib.format import open_memmap
from pydantic import BaseModel, ConfigDict, Field

from framegen.core import console
from framegen.core.dataset import (
    DatasetManifest,
    DatasetWriter,
    WindowInfo,
    open_split,
    write_row,
)
from framegen.core.errors import ExternalToolError, InputError
from framegen.core.images import read_image
from framegen.core.manifest import MANIFEST_NAME, upstream_ref
from framegen.core.workspace import stage_output

if TYPE_CHECKING:
    import torch

Motion = Literal["small", "medium", "large", "mixed"]

# Distance a layer's centre travels across the whole window, as a fraction of the frame size (log-uniform).
# At 256 px: small 0.5-13 px (sub-pixel to ~2 px a frame over 8 frames), medium 13-64 px, large 64-154 px.
TRAVEL = {"small": (0.002, 0.05), "medium": (0.05, 0.25), "large": (0.25, 0.6)}
# Rotation (radians) and log-scale change across the window, per motion size.
SPIN = {"small": 0.03, "medium": 0.4, "large": 1.2}
ZOOM = {"small": 0.02, "medium": 0.2, "large": 0.5}
MIXED_WEIGHTS = {"small": 0.3, "medium": 0.4, "large": 0.3}  # motion="mixed": each layer draws its size

MAX_TEXTURES = 128  # images kept in memory from --textures (evenly spread over the sorted list)
TEXTURE_SIDE = 512  # their longest side after downscaling
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
BLUR_SAMPLES = 5  # renders averaged over the shutter interval
CHUNK = 4  # windows per task sent to a worker process
WORKER_START_SECONDS = 120  # a worker process that is not up by then has failed to start
TRANSPARENT = (0, 0, 0, 1)  # a sprite pixel outside the sprite: no colour, full transparency


class SynthConfig(BaseModel):
    """Options of `framegen synth` and of `SynthDataset`."""

    model_config = ConfigDict(extra="forbid")

    windows: int = Field(1000, ge=1)
    size: int = Field(256, ge=32, le=2048)
    length: int = Field(8, ge=2, le=64)
    seed: int = Field(0, ge=0)
    motion: Motion = "mixed"
    hold_rate: float = Field(0.0, ge=0.0, le=1.0)  # fraction of windows animated on twos
    lighting: float = Field(0.0, ge=0.0, le=1.0)  # fraction of windows whose lighting changes
    motion_blur: float = Field(0.0, ge=0.0, le=1.0)  # fraction of windows with motion blur
    val_fraction: float = Field(0.05, ge=0.0, lt=1.0)
    textures: Path | None = None  # a folder of images (recursive) or a framegen dataset folder
    workers: int | None = Field(None, ge=1)  # None: every core this process may use


# ---------------------------------------------------------------------------------------------- textures


def load_textures(folder: Path) -> list[np.ndarray]:
    """Up to MAX_TEXTURES images as uint8 (h, w, 3) RGB, longest side <= TEXTURE_SIDE, in a fixed order.

    `folder` is a folder of PNG/JPEG/WebP images (searched recursively) or a framegen dataset folder, whose
    window frames are used.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such textures folder")
    if (folder / MANIFEST_NAME).exists():
        return _dataset_textures(folder)
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise InputError(f"{folder}: no PNG, JPEG or WebP images found (searched subfolders too)")
    return [_shrink(_opaque(read_image(path))) for path in _spread(files, MAX_TEXTURES)]


def _dataset_textures(folder: Path) -> list[np.ndarray]:
    """The first frame of windows spread over a dataset's splits."""
    frames = []
    for split in ("train", "val"):
        _, array = open_split(folder, split)  # uint8 (N, T, H, W, 3), memory-mapped
        frames += [array[i, 0] for i in range(len(array))]
    if not frames:
        raise InputError(f"{folder}: dataset holds no windows to use as textures")
    return [_shrink(np.array(frame)) for frame in _spread(frames, MAX_TEXTURES)]


def _opaque(image: np.ndarray) -> np.ndarray:
    """uint8 RGB; an RGBA image (a sprite) is laid over mid-grey."""
    if image.shape[2] == 3:
        return image
    alpha = image[..., 3:].astype(np.float32) / 255
    return (image[..., :3] * alpha + 128 * (1 - alpha) + 0.5).astype(np.uint8)


def _spread(items: list, count: int) -> list:
    """At most `count` items, evenly spread over the list."""
    if len(items) <= count:
        return items
    return [items[i * len(items) // count] for i in range(count)]


def _shrink(image: np.ndarray) -> np.ndarray:
    scale = TEXTURE_SIDE / max(image.shape[:2])
    if scale >= 1:
        return np.ascontiguousarray(image)
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _crop(rng: np.random.Generator, image: np.ndarray, side: int) -> np.ndarray:
    """A random square crop of `image` resized to uint8 (side, side, 3), magnified as little as it can be."""
    h, w = image.shape[:2]
    crop = max(1, int(min(h, w) * rng.uniform(min(max(0.3, side / min(h, w)), 1.0), 1.0)))
    top, left = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
    patch = image[top : top + crop, left : left + crop]
    interpolation = cv2.INTER_AREA if crop > side else cv2.INTER_LINEAR
    return cv2.resize(patch, (side, side), interpolation=interpolation)


def _colour(rng: np.random.Generator, saturation=(0.35, 1.0), value=(0.45, 1.0)) -> np.ndarray:
    """A random RGB colour, float (3,) in [0, 255]."""
    rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*saturation), rng.uniform(*value))
    return np.array(rgb, np.float32) * 255


def _procedural(rng: np.random.Generator, side: int, weights=(0.25, 0.25, 0.25, 0.25)) -> np.ndarray:
    """A procedural texture: uint8 (side, side, 3) of noise, a gradient, stripes or a checker (`weights`)."""
    kind = rng.choice(["noise", "gradient", "stripes", "checker"], p=weights)
    if kind == "noise":  # value noise: octaves of random grids summed at 64 px, then upsampled
        pattern = np.zeros((64, 64), np.float32)
        for octave in range(1, 5):
            grid = rng.random((2**octave + 1,) * 2, dtype=np.float32)
            pattern += cv2.resize(grid, (64, 64), interpolation=cv2.INTER_CUBIC) * 0.5**octave
        pattern = cv2.resize(pattern, (side, side), interpolation=cv2.INTER_CUBIC)
    else:
        angle = rng.uniform(0, np.pi)
        ramp = np.linspace(0, 1, side, dtype=np.float32)
        along = ramp[None, :] * np.float32(np.cos(angle)) + ramp[:, None] * np.float32(np.sin(angle))
        if kind == "gradient":
            pattern = along
        else:
            frequency = np.float32(rng.uniform(3, 12) * np.pi)
            pattern = np.sin(along * frequency)
            if kind == "checker":
                across = ramp[:, None] * np.float32(np.cos(angle)) - ramp[None, :] * np.float32(np.sin(angle))
                pattern *= np.sin(across * frequency)
            pattern = np.clip(pattern * np.float32(rng.uniform(1, 6)), -1, 1)  # soft waves to hard stripes
    low, high = float(pattern.min()), float(pattern.max())
    pattern = (pattern - low) * np.float32(1 / max(high - low, 1e-6))  # float32 (side, side) in [0, 1]
    dark, bright = _colour(rng), _colour(rng)
    return cv2.merge([cv2.convertScaleAbs(pattern, alpha=b - a, beta=a) for a, b in zip(dark, bright)])


# ---------------------------------------------------------------------------------------------- shapes


def _outline(rng: np.random.Generator, radius: float) -> np.ndarray:
    """The closed outline of a random polygon, ellipse or blob around (0, 0): float (N, 2)."""
    kind = rng.choice(["polygon", "ellipse", "blob"])
    if kind == "polygon":
        count = int(rng.integers(3, 9))
        angles = np.sort(rng.uniform(0, 2 * np.pi, count))
        radii = radius * rng.uniform(0.55, 1.0, count)
    else:
        angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        if kind == "ellipse":
            a, b, tilt = radius, radius * rng.uniform(0.35, 1.0), rng.uniform(0, np.pi)
            radii = a * b / np.sqrt((b * np.cos(angles - tilt)) ** 2 + (a * np.sin(angles - tilt)) ** 2)
        else:
            radii = np.ones_like(angles)
            for k in range(2, 5):
                radii += rng.uniform(0, 0.25) * np.sin(k * angles + rng.uniform(0, 2 * np.pi))
            radii *= radius / radii.max()
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _stroke(rng: np.random.Generator, radius: float) -> np.ndarray:
    """An open, gently curved line through (0, 0): float (N, 2)."""
    s = np.linspace(-1, 1, 24)
    bend = rng.uniform(-0.6, 0.6)
    wave = rng.uniform(-0.2, 0.2)
    points = np.stack([s, bend * (s**2 - 0.5) + wave * np.sin(3 * s)], axis=1) * radius
    angle = rng.uniform(0, np.pi)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return points @ rotation.T


def _fixed(points: np.ndarray, centre: float | np.ndarray) -> list[np.ndarray]:
    """Points moved by `centre`, for OpenCV drawing with 4 fractional bits (shift=4)."""
    return [np.round((points + centre) * 16).astype(np.int32)]


def _sprite(rng: np.random.Generator, textures: list[np.ndarray], radius: float, pad: float) -> np.ndarray:
    """One layer: float32 (c, c, 4), premultiplied RGB in [0, 255] and transparency (1 - alpha) in [0, 1]."""
    side = math.ceil(2 * (radius + pad)) + 2
    centre = side / 2
    outline_colour = _colour(rng, (0.2, 1.0), (0.0, 0.2)).tolist()
    thickness = max(1, round(radius * rng.uniform(0.03, 0.08)))
    alpha = np.zeros((side, side), np.uint8)
    look = rng.choice(["cartoon", "textured", "stroke"], p=[0.45, 0.4, 0.15])
    if look == "stroke":  # a thick line with a dark outline, like a tail, a rope or a hair strand
        points = _fixed(_stroke(rng, radius * 0.9), centre)
        width = max(3, round(radius * rng.uniform(0.1, 0.3)))
        rgb = np.empty((side, side, 3), np.uint8)
        rgb[:] = _colour(rng)
        cv2.polylines(alpha, points, False, 255, width + 2 * thickness, cv2.LINE_AA, 4)
        cv2.polylines(rgb, points, False, outline_colour, width + 2 * thickness, cv2.LINE_AA, 4)
        cv2.polylines(rgb, points, False, _colour(rng).tolist(), width, cv2.LINE_AA, 4)
    else:
        shape = _outline(rng, radius)
        points = _fixed(shape, centre)
        cv2.fillPoly(alpha, points, 255, cv2.LINE_AA, 4)
        if look == "cartoon":  # flat colour with a cel-shaded rim on one side
            fill = _colour(rng)
            rgb = np.empty((side, side, 3), np.uint8)
            rgb[:] = fill * rng.uniform(0.55, 0.85)
            offset = rng.normal(0, radius * 0.12, 2)
            cv2.fillPoly(rgb, _fixed(shape * 0.97 + offset, centre), fill.tolist(), cv2.LINE_AA, 4)
        else:
            rgb = _crop(rng, textures[rng.integers(len(textures))], side) if textures else _procedural(rng, side)
        if look == "cartoon" or rng.random() < 0.5:
            cv2.polylines(alpha, points, True, 255, thickness, cv2.LINE_AA, 4)
            cv2.polylines(rgb, points, True, outline_colour, thickness, cv2.LINE_AA, 4)
    opacity = alpha.astype(np.float32) * (1 / 255)
    return np.dstack([rgb.astype(np.float32) * opacity[..., None], 1 - opacity])


def _background(rng: np.random.Generator, textures: list[np.ndarray], side: int) -> np.ndarray:
    """uint8 (side, side, 3): a real-image crop, or a procedural texture with scenery."""
    if textures and rng.random() < 0.7:
        return _crop(rng, textures[rng.integers(len(textures))], side)
    image = _procedural(rng, side, weights=(0.4, 0.4, 0.1, 0.1))  # mostly calm: skies, walls, grounds
    for _ in range(int(rng.integers(0, 5))):  # static flat shapes: hills, clouds, props
        points = _fixed(_outline(rng, side * rng.uniform(0.08, 0.3)), rng.uniform(0, side, 2))
        cv2.fillPoly(image, points, _colour(rng, value=(0.3, 0.9)).tolist(), cv2.LINE_AA, 4)
        cv2.polylines(image, points, True, (20, 20, 20), max(1, side // 150), cv2.LINE_AA, 4)
    return image


# ---------------------------------------------------------------------------------------------- motion


def _motion_size(rng: np.random.Generator, motion: Motion) -> str:
    if motion != "mixed":
        return motion
    names = list(MIXED_WEIGHTS)
    return names[rng.choice(len(names), p=list(MIXED_WEIGHTS.values()))]


@dataclass
class Trajectory:
    """Smooth motion of a layer's centre, rotation and scale over t in [0, 1].

    centre(t) = start + travel * ease(t) + bend * 4 t (1 - t), so centre(1) - centre(0) = travel;
    ease(t) = t + accel * t (t - 1) speeds up or slows down (monotone for |accel| < 1).
    """

    start: np.ndarray  # (2,) x, y in frame pixels at t = 0
    travel: np.ndarray  # (2,) displacement across the window
    bend: np.ndarray  # (2,) sideways bulge of the path at t = 0.5, perpendicular to travel
    accel: float
    angle: float  # radians at t = 0
    spin: float  # radians across the window
    zoom: float  # log-scale change across the window; scale(0.5) = 1

    @classmethod
    def random(cls, rng: np.random.Generator, size: str, frame: int, middle: np.ndarray,
               travel: float = 1.0, spin: float = 1.0, zoom: float = 1.0) -> Trajectory:
        """A random path of motion size `size` whose centre is at `middle` at t = 0.5.

        `travel`, `spin` and `zoom` scale the drawn amounts (the camera moves less than the layers).
        """
        low, high = TRAVEL[size]
        distance = travel * frame * math.exp(rng.uniform(math.log(low), math.log(high)))
        heading = rng.uniform(0, 2 * np.pi)
        direction = np.array([math.cos(heading), math.sin(heading)])
        trajectory = cls(
            start=np.zeros(2),
            travel=distance * direction,
            bend=distance * rng.uniform(-0.25, 0.25) * np.array([-direction[1], direction[0]]),
            accel=rng.uniform(-0.6, 0.6),
            angle=rng.uniform(0, 2 * np.pi) * (spin > 0),
            spin=rng.uniform(-1, 1) * SPIN[size] * spin,
            zoom=rng.uniform(-1, 1) * ZOOM[size] * zoom,
        )
        trajectory.start = middle - trajectory.centre(0.5)
        return trajectory

    def centre(self, t: float) -> np.ndarray:
        return self.start + self.travel * (t + self.accel * t * (t - 1)) + self.bend * (4 * t * (1 - t))

    def matrix(self, t: float, anchor: float) -> np.ndarray:
        """float (2, 3) affine from canvas pixels (canvas centre at (anchor, anchor)) to frame pixels."""
        angle = self.angle + self.spin * t
        scale = math.exp(self.zoom * (t - 0.5))
        c, s = scale * math.cos(angle), scale * math.sin(angle)
        x, y = self.centre(t)
        return np.array([[c, -s, x - c * anchor + s * anchor], [s, c, y - s * anchor - c * anchor]])


def _plane(coefficients: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """a x + b y + c for a row x (1, w) and a column y (h, 1): float32 (h, w)."""
    a, b, c = coefficients.tolist()
    return np.float32(a) * x + (np.float32(b) * y + np.float32(c))


def _wave(coefficients: np.ndarray, phase: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """sin(a x + b y + c + phase) as float32 (h, w), by sin(p + q) = sin p cos q + cos p sin q: four 1-D
    sines instead of one per pixel."""
    a, b, c = coefficients.tolist()
    p, q = np.float32(a) * x, np.float32(b) * y + np.float32(c + phase)
    return np.sin(p) * np.cos(q) + np.cos(p) * np.sin(q)


@dataclass
class Layer:
    sprite: np.ndarray  # float32 (c, c, 4): premultiplied RGB in [0, 255], transparency (1 - alpha) in [0, 1]
    trajectory: Trajectory
    wobble: float  # amplitude of the non-rigid warp in canvas pixels (0: rigid)
    wobble_frequency: np.ndarray  # (2,) radians per canvas pixel
    wobble_phase: np.ndarray  # (2,)
    wobble_speed: float  # radians across the window

    def composite(self, frame: np.ndarray, t: float) -> None:
        """Draw this layer at time t over `frame`: float32 (H, W, 3) in [0, 255], in place."""
        side = self.sprite.shape[0]
        matrix = self.trajectory.matrix(t, side / 2)
        (a, b, x), (c, d, y) = matrix.tolist()
        xs = [x, x + a * side, x + b * side, x + (a + b) * side]  # the canvas corners in the frame
        ys = [y, y + c * side, y + d * side, y + (c + d) * side]
        height, width = frame.shape[:2]
        x0, y0 = max(math.floor(min(xs)), 0), max(math.floor(min(ys)), 0)
        x1, y1 = min(math.ceil(max(xs)) + 1, width), min(math.ceil(max(ys)) + 1, height)
        if x0 >= x1 or y0 >= y1:
            return  # outside the frame
        matrix[:, 2] -= (x0, y0)
        if self.wobble:
            warped = self._remap(matrix, (x1 - x0, y1 - y0), t)
        else:
            warped = cv2.warpAffine(self.sprite, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=TRANSPARENT)
        # "over" with premultiplied colour: region * (1 - alpha) + colour; OpenCV calls work in place on
        # the region (a view into the frame) and are ~10x faster than numpy's broadcasting here
        region = frame[y0:y1, x0:x1]
        cv2.multiply(region, cv2.cvtColor(cv2.extractChannel(warped, 3), cv2.COLOR_GRAY2RGB), dst=region)
        cv2.add(region, cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB), dst=region)

    def _remap(self, matrix: np.ndarray, size: tuple[int, int], t: float) -> np.ndarray:
        """Warp by the affine plus a smooth displacement field that drifts with t.

        Canvas point (u, v) of frame pixel (x, y) moves by wobble * (sin(fv v + phase_u), sin(fu u + phase_v)).
        """
        inverse = cv2.invertAffineTransform(matrix)
        x = np.arange(size[0], dtype=np.float32)[None, :]
        y = np.arange(size[1], dtype=np.float32)[:, None]
        u = _plane(inverse[0], x, y)  # float32 (h, w): canvas x of each pixel
        v = _plane(inverse[1], x, y)
        phase_u, phase_v = (self.wobble_phase + self.wobble_speed * t).tolist()
        fu, fv = self.wobble_frequency.tolist()
        u += self.wobble * _wave(fv * inverse[1], phase_u, x, y)
        v += self.wobble * _wave(fu * inverse[0], phase_v, x, y)
        return cv2.remap(self.sprite, u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=TRANSPARENT)


class Scene:
    """One window's scene: `render(t)` is uint8 (H, W, 3) RGB, a pure function of t."""

    def __init__(self, config: SynthConfig, textures: list[np.ndarray], index: int):
        rng = np.random.default_rng([config.seed, index])
        size = config.size
        self.size, self.length = size, config.length
        self.held = bool(rng.random() < config.hold_rate)
        self.gains = None  # lighting: float32 (2, 3) per-channel gains at t = 0 and t = 1
        if rng.random() < config.lighting:
            self.gains = np.exp(rng.normal(0, 0.2) + rng.normal(0, 0.06, (2, 3))).astype(np.float32)
        self.shutter = 0.0  # motion blur: the span of t averaged around each sample time
        if rng.random() < config.motion_blur:
            self.shutter = rng.uniform(0.3, 1.0) / (config.length - 1)

        self.camera = Trajectory.random(rng, _motion_size(rng, config.motion), size, np.full(2, size / 2),
                                        travel=0.5, spin=0.0, zoom=0.3)
        # the background canvas covers the frame all along the camera's path (reflected beyond it)
        side = int(size * 1.2 + 2 * np.abs(self.camera.travel).max() + 2 * np.abs(self.camera.bend).max())
        # uint8 RGBA: OpenCV warps 4-channel uint8 2.5x faster than 3-channel uint8 or float32
        self.background = cv2.cvtColor(_background(rng, textures, side), cv2.COLOR_RGB2RGBA)

        self.layers = []
        for _ in range(int(rng.integers(2, 7))):
            radius = size * math.exp(rng.uniform(math.log(0.05), math.log(0.3)))
            wobble = radius * rng.uniform(0.02, 0.06) if rng.random() < 0.35 else 0.0
            sprite = _sprite(rng, textures, radius, pad=wobble + 2)
            middle = rng.uniform(-0.05, 1.05, 2) * size
            trajectory = Trajectory.random(rng, _motion_size(rng, config.motion), size, middle)
            self.layers.append(Layer(sprite, trajectory, wobble, rng.uniform(1, 4, 2) * np.pi / sprite.shape[0],
                                     rng.uniform(0, 2 * np.pi, 2), rng.uniform(-3, 3)))

    def drawing_time(self, k: int) -> float:
        """The scene time frame k shows: k / (T - 1), or the previous even frame's when held on twos."""
        return (k - k % 2 if self.held else k) / (self.length - 1)

    def render(self, t: float) -> np.ndarray:
        """The frame at time t: uint8 (H, W, 3) RGB."""
        if self.shutter:
            offsets = np.linspace(-0.5, 0.5, BLUR_SAMPLES) * self.shutter
            frame = sum(self._draw(t + offset) for offset in offsets) / BLUR_SAMPLES
        else:
            frame = self._draw(t)
        if self.gains is not None:
            frame *= self.gains[0] + (self.gains[1] - self.gains[0]) * t
        return cv2.convertScaleAbs(frame)  # rounds and saturates to uint8 (frame is never negative)

    def render_window(self) -> np.ndarray:
        """The window's frames: uint8 (T, H, W, 3); a held frame repeats the previous drawing."""
        window = np.empty((self.length, self.size, self.size, 3), np.uint8)
        for k in range(self.length):
            t = self.drawing_time(k)
            window[k] = window[k - 1] if k and t == self.drawing_time(k - 1) else self.render(t)
        return window

    def _draw(self, t: float) -> np.ndarray:
        """float32 (H, W, 3) in [0, 255]: the background under the camera, then the layers back to front."""
        side = self.background.shape[0]
        camera = self.camera.matrix(t, side / 2)
        frame = cv2.warpAffine(self.background, camera, (self.size, self.size), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT_101)
        frame = cv2.cvtColor(frame, cv2.COLOR_RGBA2RGB).astype(np.float32)
        for layer in self.layers:
            layer.composite(frame, t)
        return frame


def scene_name(index: int) -> str:
    """The `shot` of scene `index` in the dataset manifest."""
    return f"synth-{index:06d}"


# ---------------------------------------------------------------------------------------------- writing


def split_row(index: int, n_val: int) -> tuple[str, int]:
    """Where scene `index` is stored: scenes 0 .. n_val-1 are the val split, the rest the train split."""
    return ("val", index) if index < n_val else ("train", index - n_val)


@dataclass
class _Worker:
    """What a worker process holds: the scene options, the textures and the split files it writes into."""

    config: SynthConfig
    textures: list[np.ndarray]
    arrays: dict[str, np.memmap]  # uint8 (N, T, H, W, 3), mapped read-only: where each row lies in its file
    files: dict[str, BinaryIO]  # the same files, opened for writing (dataset.write_row)
    n_val: int


_worker: _Worker | None = None


def _init_worker(config: SynthConfig, textures: list[np.ndarray], files: dict[str, str], n_val: int,
                 started, all_started) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches every process: the main one stops the pool
    cv2.setNumThreads(1)  # one core per worker process
    _worker = _Worker(config, textures, {split: open_memmap(file, mode="r") for split, file in files.items()},
                      {split: open(file, "r+b") for split, file in files.items()}, n_val)
    started.release()
    all_started.acquire()  # the pool starts a new process for a task only while none is idle: no worker may
    # finish a task before the first tasks have started them all


def _render_chunk(indices: range) -> None:
    """Render scenes `indices` and write them into their rows of the dataset files (in a worker process)."""
    for index in indices:
        split, row = split_row(index, _worker.n_val)
        window = Scene(_worker.config, _worker.textures, index).render_window()
        write_row(_worker.files[split], _worker.arrays[split], row, window)
    for file in _worker.files.values():
        file.flush()  # in the files before this chunk is reported done


def _worker_context() -> multiprocessing.context.BaseContext:
    """Start workers from a clean process, never by forking this one: a child forked after OpenCV has run
    its thread pool hangs in cv2.setNumThreads (19 of 20 forks in a test), and each worker needs that call
    to stay on one core. A forkserver that has imported this module once starts workers fast; where there
    is none (Windows), spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Hold back Ctrl-C while the forkserver and the workers start. They inherit the blocked signal, so a
    Ctrl-C, which reaches every process of the terminal's group, never lands in their seconds of imports
    (a KeyboardInterrupt traceback each). This process gets it as soon as the pool is up: blocking covers
    only this thread, and the kernel may hand the signal to another one (OpenCV's, torch's), so Python's
    handler is replaced too, by one that only remembers it."""
    interrupted = []
    handler = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
    blocked = hasattr(signal, "pthread_sigmask")  # not on Windows
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if blocked else None
    try:
        yield
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        signal.signal(signal.SIGINT, handler)
    if interrupted:
        raise KeyboardInterrupt


def _write_windows(writer: DatasetWriter, config: SynthConfig, textures: list[np.ndarray], n_val: int,
                   workers: int) -> Iterator[None]:
    """Fill the writer with scenes 0 .. windows-1, in order; yields once per window (for the progress bar).

    One worker renders in this process. Several write their windows straight into the dataset files
    (pixels never cross a pipe; plain writes, not through a memory map, whose pages would stay in the
    worker's RSS) and this process records them in order; at most 2 chunks per worker are in flight, so
    memory stays bounded.
    """
    frames = list(range(config.length))
    if workers == 1:
        for index in range(config.windows):
            window = Scene(config, textures, index).render_window()
            writer.add(split_row(index, n_val)[0], window, WindowInfo(shot=scene_name(index), frames=frames))
            yield
        return
    files = {split: array.filename for split, array in writer.arrays.items() if len(array)}
    chunks = [range(i, min(i + CHUNK, config.windows)) for i in range(0, config.windows, CHUNK)]
    resource_tracker.ensure_running()  # the pool would start it, which unblocks SIGINT: start it first
    context = _worker_context()
    # Semaphores, not an Event: a process killed while waiting on a multiprocessing.Event would hang set()
    started, all_started = context.Semaphore(0), context.Semaphore(0)
    # A ProcessPoolExecutor, not a multiprocessing.Pool: a worker that dies (killed for memory, say) fails
    # the pool instead of leaving this process waiting forever for its tasks.
    executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                   initargs=(config, textures, files, n_val, started, all_started))
    pending = deque()

    def submit(chunk: range) -> None:
        pending.append((chunk, executor.submit(_render_chunk, chunk)))

    def record(chunk: range, result) -> Iterator[None]:
        result.result()  # the worker has written these windows (or raised)
        for index in chunk:
            writer.add_written(split_row(index, n_val)[0], WindowInfo(shot=scene_name(index), frames=frames))
            yield

    try:
        with executor:
            with _sigint_blocked():  # until every worker is up: one still unpickling its start-up data when
                # this process stops would find the pool's semaphores gone and print a traceback
                for chunk in chunks[: 2 * workers]:  # workers start with the first tasks
                    submit(chunk)
                try:
                    wait_for_workers(started, workers, [future for _, future in pending])
                finally:
                    for _ in range(workers):
                        all_started.release()
            for chunk in chunks[2 * workers :]:  # at most 2 chunks per worker in flight: memory stays bounded
                yield from record(*pending.popleft())
                submit(chunk)
            while pending:
                yield from record(*pending.popleft())
    except BrokenProcessPool:
        raise ExternalToolError("synth: a worker process died (out of memory?); try fewer --workers") from None


def wait_for_workers(started, workers: int, futures: list) -> None:
    """Until `workers` processes have released `started`, or one of `futures` failed (a worker died)."""
    deadline = time.monotonic() + WORKER_START_SECONDS
    for _ in range(workers):
        while not started.acquire(timeout=0.1):
            if any(f.done() and f.exception() is not None for f in futures):
                return  # the failure is raised where its result is read
            if time.monotonic() > deadline:
                raise ExternalToolError(f"synth: the worker processes did not start in {WORKER_START_SECONDS} s")


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def write_synth_dataset(config: SynthConfig, folder: Path, overwrite: bool = False) -> DatasetManifest:
    """Render `config.windows` windows into a dataset folder; scenes 0 .. n_val-1 form the val split."""
    textures = load_textures(config.textures) if config.textures is not None else []
    upstream = None
    if config.textures is not None and (Path(config.textures) / MANIFEST_NAME).exists():
        upstream = upstream_ref(folder, Path(config.textures) / MANIFEST_NAME)
    n_val = min(round(config.windows * config.val_fraction), config.windows - 1)
    counts = {"train": config.windows - n_val, "val": n_val}
    workers = min(config.workers or available_cores(), math.ceil(config.windows / CHUNK))
    parameters = config.model_dump(mode="json", exclude={"workers"})  # the output does not depend on it
    with stage_output(folder, "synth", overwrite):
        writer = DatasetWriter(folder, counts, config.length, config.size, config.size)
        with console.progress(unit="windows") as bar:
            task = bar.add_task("synth", total=config.windows)
            for _ in _write_windows(writer, config, textures, n_val, workers):
                bar.advance(task)
        return writer.finish(DatasetManifest.header(parameters, upstream) | {"kind": "synthetic"})


class SynthDataset:
    """Synthetic windows rendered on the fly, for a training loader: item i is uint8 (T, 3, H, W), as in
    WindowDataset (`to_float` makes a batch of them images in [0, 1]).

    Item i is scene i of `config.seed`, the same window `framegen synth` stores for that index; there are
    `config.windows` items. An 8x256x256 window takes about 15-20 ms of one core (bench/bench_synth.py),
    so one DataLoader worker keeps ahead of a CPU training step. For new scenes every epoch, build it with
    seed=epoch. Safe in forked DataLoader workers (it never changes OpenCV's thread count).
    """

    def __init__(self, config: SynthConfig):
        self.config = config
        self.textures = load_textures(config.textures) if config.textures is not None else []

    def __len__(self) -> int:
        return self.config.windows

    def __getitem__(self, index: int) -> torch.Tensor:
        import torch  # here, not at the top: the synth stage itself never loads it

        window = Scene(self.config, self.textures, index).render_window()  # uint8 (T, H, W, 3)
        return torch.from_numpy(window).permute(0, 3, 1, 2)  # uint8 (T, 3, H, W)
