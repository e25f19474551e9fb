"""A synthetic scene: its options, the layers' trajectories, `Scene.render(t)` (exact ground truth at any t)
and `SynthDataset`, which renders windows on the fly for a training loader."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from framegen.core.stages.synth.drawing import TRANSPARENT, draw_background, draw_sprite
from framegen.core.stages.synth.textures import load_textures

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
BLUR_SAMPLES = 5  # renders averaged over the shutter interval


class SynthConfig(BaseModel):
    """Options of `framegen synth` and of `SynthDataset`."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    windows: int = Field(1000, ge=1, le=1_000_000)
    size: int = Field(256, ge=32, le=2048)
    length: int = Field(8, ge=2, le=64)
    seed: int = Field(0, ge=0)
    motion: Motion = "mixed"
    hold_rate: float = Field(0.0, ge=0.0, le=1.0)  # fraction of windows animated on twos
    lighting: float = Field(0.0, ge=0.0, le=1.0)  # fraction of windows whose lighting changes
    motion_blur: float = Field(0.0, ge=0.0, le=1.0)  # fraction of windows with motion blur
    val_fraction: float = Field(0.05, ge=0.0, lt=1.0)
    textures: Path | None = None  # a folder of images (recursive) or a framegen dataset folder
    workers: int | None = Field(None, ge=1, le=256)  # None: every core this process may use


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
        # the region (a view into the frame) and are much faster than numpy's broadcasting here
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
        # uint8 RGBA: OpenCV warps 4-channel uint8 faster than 3-channel uint8 or float32
        self.background = cv2.cvtColor(draw_background(rng, textures, side), cv2.COLOR_RGB2RGBA)

        self.layers = []
        for _ in range(int(rng.integers(2, 7))):
            radius = size * math.exp(rng.uniform(math.log(0.05), math.log(0.3)))
            wobble = radius * rng.uniform(0.02, 0.06) if rng.random() < 0.35 else 0.0
            sprite = draw_sprite(rng, textures, radius, pad=wobble + 2)
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


class SynthDataset:
    """Synthetic windows rendered on the fly, for a training loader: item i is uint8 (T, 3, H, W), as in
    WindowDataset (convert.windows_to_float makes a batch of them images in [0, 1]).

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
