"""Synthetic frames, and the media files made from them: videos, lavfi sources, rotated and broken movies."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np

from framegen.core.media.ffmpeg import ffmpeg_binary
from framegen.core.media.images import read_png_fast


def frames_with_other_pixels(folder: Path, reference: Path, files: list[str]) -> list[str]:
    """The `files` whose decoded pixels differ between two frames folders (names only, so a failure
    prints a short list). Pixels, not bytes: ISA-L's deflate does not promise the same bytes for the same
    input on every run; one CI run wrote 37 of 480 frames one byte shorter, with the same pixels."""
    return [file for file in files
            if not np.array_equal(read_png_fast(Path(folder, file)), read_png_fast(Path(reference, file)))]


def write_video(path: Path, frames: np.ndarray, fps: int = 24, codec: str = "libx264") -> Path:
    """Encode uint8 (N, H, W, 3) RGB frames into a real video file with ffmpeg."""
    n, h, w, _ = frames.shape
    args = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
            "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "-"]
    if codec == "libx264":
        args += ["-c:v", "libx264", "-crf", "12", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
    else:
        args += ["-c:v", codec]
    subprocess.run(args + [str(path)], input=np.ascontiguousarray(frames).tobytes(), check=True)
    return path


def moving_square_frames(n: int, size: tuple[int, int] = (96, 128), cuts: tuple[int, ...] = (),
                         held: tuple[int, ...] = (), seed: int = 0) -> np.ndarray:
    """(n, H, W, 3) uint8 frames: a textured square moving over a background that changes at each cut.

    `held` frames repeat the previous frame exactly (animation "on twos").
    """
    rng = np.random.default_rng(seed)
    h, w = size
    frames = np.empty((n, h, w, 3), np.uint8)
    shot = 0
    background = rng.integers(40, 215, size=3)
    texture = rng.integers(0, 255, size=(24, 24, 3), dtype=np.uint8)
    for i in range(n):
        if i in cuts:
            shot += 1
            background = rng.integers(40, 215, size=3)
            texture = rng.integers(0, 255, size=(24, 24, 3), dtype=np.uint8)
        if i in held:
            frames[i] = frames[i - 1]
            continue
        frame = np.empty((h, w, 3), np.uint8)
        frame[:] = background
        yy, xx = np.mgrid[0:h, 0:w]
        frame[((xx // 16 + yy // 16) % 2 == 0)] //= 2  # checker so the background is not flat
        x = int(8 + (i * 3) % (w - 40))
        y = int(h // 2 - 12 + 10 * np.sin(i / 5))
        frame[y:y + 24, x:x + 24] = texture
        frames[i] = frame
    return frames


def textured_square_frames(n: int, size: tuple[int, int] = (96, 128), seed: int = 0) -> np.ndarray:
    """uint8 (n, H, W, 3): a 32-px square of smooth colour blobs gliding 3 px a frame to the right (and
    bobbing) over a smooth, non-periodic background. (moving_square_frames' square is white noise over a
    checkerboard: a small, fast, noise-textured object over a periodic pattern is where coarse-to-fine flow
    such as DIS fails, so it says little about natural footage.)"""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    background = np.stack([110 + 50 * np.sin(xx / 23 + 1.7 * c) * np.cos(yy / 17 - c) for c in range(3)], axis=2)
    blobs = rng.integers(0, 256, (5, 5, 3)).astype(np.float32)
    texture = cv2.resize(blobs, (32, 32), interpolation=cv2.INTER_CUBIC)
    frames = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        frame = background.copy()
        x, y = 8 + 3 * i, int(h // 2 - 16 + 6 * np.sin(i / 5))
        frame[y:y + 32, x:x + 32] = texture
        frames[i] = np.clip(frame, 0, 255)
    return frames


def lavfi(path: Path, source: str, *encode: str) -> Path:
    """Make a media file from an ffmpeg lavfi source, e.g. "sine=duration=1" or "testsrc2=size=64x48"."""
    subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source,
                    *encode, str(path)], check=True)
    return path


def bad_movies(folder: Path, good: Path) -> dict[str, Path]:
    """Movies no stage can read, by what is wrong with them, made in `folder` (some from the movie `good`)."""
    (folder / "notes.mp4").write_text("not a movie, just text\n")
    (folder / "empty.mp4").write_bytes(b"")
    data = good.read_bytes()
    (folder / "half.mp4").write_bytes(data[: len(data) // 2])  # the index (moov) is at the end: lost
    return {
        "missing": folder / "missing.mp4",
        "folder": folder,
        "text": folder / "notes.mp4",
        "empty": folder / "empty.mp4",
        "truncated": folder / "half.mp4",
        "audio only": lavfi(folder / "tone.m4a", "sine=duration=1"),
        "1x1 pixels": lavfi(folder / "dot.mkv", "color=red:size=1x1:duration=1", "-c:v", "ffv1"),
    }


def with_rotation(movie: Path, degrees: int) -> Path:
    """A copy of `movie` whose display matrix says: turn `degrees` counter-clockwise (a phone video)."""
    rotated = movie.with_name(f"rotated{degrees}.mp4")
    subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-y", "-display_rotation", str(degrees),
                    "-i", str(movie), "-c", "copy", str(rotated)], check=True)
    return rotated


def decode(path: Path, width: int, height: int, pix_fmt: str = "rgb24") -> np.ndarray:
    """Every frame of an animation or movie, uint8 (N, H, W, 3|4)."""
    done = subprocess.run([ffmpeg_binary(), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", pix_fmt,
                           "-"], capture_output=True, check=True)
    channels = 4 if pix_fmt == "rgba" else 3
    return np.frombuffer(done.stdout, np.uint8).reshape(-1, height, width, channels)
