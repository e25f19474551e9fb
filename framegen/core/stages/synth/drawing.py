"""What a synthetic scene is drawn from, made once per scene: layer sprites (flat cartoon shapes with dark
outlines, shapes cut from textures, thick strokes) and the background canvas."""

from __future__ import annotations

import math

import cv2
import numpy as np

from framegen.core.media.convert import uint8_to_float
from framegen.core.stages.synth.textures import procedural_texture, random_colour, random_crop

TRANSPARENT = (0, 0, 0, 1)  # a sprite pixel outside the sprite: no colour, full transparency


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


def draw_sprite(rng: np.random.Generator, textures: list[np.ndarray], radius: float, pad: float) -> np.ndarray:
    """One layer: float32 (c, c, 4), premultiplied RGB in [0, 255] and transparency (1 - alpha) in [0, 1]."""
    side = math.ceil(2 * (radius + pad)) + 2
    centre = side / 2
    outline_colour = random_colour(rng, (0.2, 1.0), (0.0, 0.2)).tolist()
    thickness = max(1, round(radius * rng.uniform(0.03, 0.08)))
    alpha = np.zeros((side, side), np.uint8)
    look = rng.choice(["cartoon", "textured", "stroke"], p=[0.45, 0.4, 0.15])
    if look == "stroke":  # a thick line with a dark outline, like a tail, a rope or a hair strand
        points = _fixed(_stroke(rng, radius * 0.9), centre)
        width = max(3, round(radius * rng.uniform(0.1, 0.3)))
        rgb = np.empty((side, side, 3), np.uint8)
        rgb[:] = random_colour(rng)
        cv2.polylines(alpha, points, False, 255, width + 2 * thickness, cv2.LINE_AA, 4)
        cv2.polylines(rgb, points, False, outline_colour, width + 2 * thickness, cv2.LINE_AA, 4)
        cv2.polylines(rgb, points, False, random_colour(rng).tolist(), width, cv2.LINE_AA, 4)
    else:
        shape = _outline(rng, radius)
        points = _fixed(shape, centre)
        cv2.fillPoly(alpha, points, 255, cv2.LINE_AA, 4)
        if look == "cartoon":  # flat colour with a cel-shaded rim on one side
            fill = random_colour(rng)
            rgb = np.empty((side, side, 3), np.uint8)
            rgb[:] = fill * rng.uniform(0.55, 0.85)
            offset = rng.normal(0, radius * 0.12, 2)
            cv2.fillPoly(rgb, _fixed(shape * 0.97 + offset, centre), fill.tolist(), cv2.LINE_AA, 4)
        else:
            rgb = (random_crop(rng, textures[rng.integers(len(textures))], side) if textures
                   else procedural_texture(rng, side))
        if look == "cartoon" or rng.random() < 0.5:
            cv2.polylines(alpha, points, True, 255, thickness, cv2.LINE_AA, 4)
            cv2.polylines(rgb, points, True, outline_colour, thickness, cv2.LINE_AA, 4)
    opacity = uint8_to_float(alpha)  # float32 (c, c) in [0, 1]
    return np.dstack([rgb.astype(np.float32) * opacity[..., None], 1 - opacity])


def draw_background(rng: np.random.Generator, textures: list[np.ndarray], side: int) -> np.ndarray:
    """uint8 (side, side, 3): a real-image crop, or a procedural texture with scenery."""
    if textures and rng.random() < 0.7:
        return random_crop(rng, textures[rng.integers(len(textures))], side)
    image = procedural_texture(rng, side, weights=(0.4, 0.4, 0.1, 0.1))  # mostly calm: skies, walls, grounds
    for _ in range(int(rng.integers(0, 5))):  # static flat shapes: hills, clouds, props
        points = _fixed(_outline(rng, side * rng.uniform(0.08, 0.3)), rng.uniform(0, side, 2))
        cv2.fillPoly(image, points, random_colour(rng, value=(0.3, 0.9)).tolist(), cv2.LINE_AA, 4)
        cv2.polylines(image, points, True, (20, 20, 20), max(1, side // 150), cv2.LINE_AA, 4)
    return image
