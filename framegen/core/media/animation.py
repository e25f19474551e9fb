"""Animation files: GIF, WebP, APNG (.png/.apng) and MP4, written by ffmpeg from frames streamed to it.

`write_animation(path, frames, fps)` is the one writer that `interpolate`, `export-gif` and `train` use.
Frames (uint8 (H, W, 3) RGB or (H, W, 4) RGBA, all the same shape) are piped raw to one ffmpeg process,
so memory does not grow with the number of frames (ffmpeg itself keeps only what its encoder needs).
The output is written to a temporary file beside the target and renamed into place at the end
(os.replace): an interrupted or failed write never leaves a half-written animation.

Per format:
- GIF: a palette per frame (palettegen stats_mode=single + paletteuse new=1, Floyd-Steinberg dithering).
  Measured on the sample movie (48-frame clips of each shot): the hardest clip (soft gradients) decodes at
  36.5 dB PSNR against its source frames, the others 42-50 dB; one palette for the whole animation gave
  34.9 dB on the whole movie. Transparency: pixels with alpha < 128 become the transparent colour.
- WebP: libwebp, lossy quality 90 (alpha kept).
- APNG: lossless, alpha kept.
- MP4: H.264 (libx264, crf 18), yuv420p; yuv444p when a side is odd, so the size stays exact (some
  players only play yuv420p). No alpha in MP4: it is dropped. With `audio` (a movie and a span of it),
  the audio streams of that span are copied in.
`loop` is how many times the animation plays, 0 = forever (MP4 ignores it).

Limits, checked before any work (`check_animation`, a UsageError naming the limit): GIF plays at most
65,536 times (its repeat count is 16-bit) and 65,535 px a side; WebP 65,535 plays and 16,383 px a side;
APNG 65,535 plays (ffmpeg's limit); MP4 (libx264) 16,384 px a side. Anything above fails inside ffmpeg.

Interruptions: the temporary file is locked (flock) while it is written. SIGTERM inside
`signals.sigterm_as_interrupt` (held around every command) stops like Ctrl-C, and the
temporary file is removed; a process killed outright (SIGKILL, power) leaves it, and the next write of the
same animation removes every such temporary file that no running framegen holds (`remove_stale_temporaries`).

`export_frames` (the `export-gif` command) feeds it the PNG files of a folder, in name order, or the
frames a frames manifest (`extract`) lists, in its order and at its frame rate.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import logging
import os
import re
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator, Sequence, TypeVar

import numpy as np

from framegen.core.errors import ExternalToolError, InputError, UsageError
from framegen.core.manifest import atomic_output
from framegen.core.media.ffmpeg import ffmpeg_binary, file_arg, last_error_line

log = logging.getLogger(__name__)

FORMATS = {".gif": "gif", ".webp": "webp", ".png": "apng", ".apng": "apng", ".mp4": "mp4"}
DEFAULT_FPS = 12.0  # for frames without a known frame rate
MAX_PLAYS = {"gif": 65536, "webp": 65535, "apng": 65535}  # `loop`: measured with ffmpeg 9 (above: it fails)
MAX_SIDE = {"gif": 65535, "webp": 16383, "apng": 2**31 - 1, "mp4": 16384}  # px
TEMPORARY = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{12}\.tmp")  # manifest.atomic_output's temporary names

T = TypeVar("T")


def animation_format(path: Path) -> str:
    """`gif`, `webp`, `apng` or `mp4` from the file's suffix; a UsageError for anything else."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"{path}: unknown animation format {suffix or '(no suffix)'!r} "
                         f"(use one of {', '.join(sorted(FORMATS))})")
    return FORMATS[suffix]


def is_animation_file(path: Path) -> bool:
    """Whether the regular file `path` starts as an animation of the format its suffix names does (an earlier
    output that may be replaced); False for an unknown suffix."""
    kind = FORMATS.get(Path(path).suffix.lower())
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return {"gif": head[:6] in (b"GIF87a", b"GIF89a"), "webp": head[:4] == b"RIFF" and head[8:12] == b"WEBP",
            "apng": head[:8] == b"\x89PNG\r\n\x1a\n", "mp4": head[4:8] == b"ftyp"}.get(kind, False)


def pingpong(frames: Sequence[T]) -> list[T]:
    """Forwards then backwards without repeating the end frames: a b c d -> a b c d c b."""
    return list(frames) + list(frames[-2:0:-1])


def pingpong_frames(frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """`pingpong` for a stream of frames of one shape: each frame is passed on at once and kept in a
    temporary file (disk, not memory), which then gives them back backwards, one at a time."""
    with tempfile.TemporaryFile() as spool:
        shape = None
        count = 0
        for frame in frames:
            shape = frame.shape
            spool.write(np.ascontiguousarray(frame).data)
            count += 1
            yield frame
        if shape is None:
            return
        size = int(np.prod(shape))
        for index in range(count - 2, 0, -1):
            spool.seek(index * size)
            yield np.frombuffer(spool.read(size), np.uint8).reshape(shape)  # uint8 (H, W, C)


@dataclass
class Audio:
    """The audio streams of `movie` from `start` to `end` seconds (None: its end), to copy into an MP4."""

    movie: Path
    start: float = 0.0
    end: float | None = None


def check_animation(path: Path, width: int, height: int, loop: int) -> str:
    """The format of `path` (animation_format), once `loop` plays and a width x height animation fit it."""
    kind = animation_format(path)
    if kind != "mp4" and loop > MAX_PLAYS[kind]:
        raise UsageError(f"--loop {loop}: {kind.upper()} plays at most {MAX_PLAYS[kind]} times (0 = forever)")
    if max(width, height) > MAX_SIDE[kind]:
        raise UsageError(f"{path}: {width}x{height} frames are larger than {kind.upper()} allows "
                         f"({MAX_SIDE[kind]} px a side); choose another format or a smaller size")
    return kind


def write_animation(path: Path, frames: Iterable[np.ndarray], fps: float, loop: int = 0,
                    width: int | None = None, audio: Audio | None = None) -> int:
    """Encode `frames` into `path` (format from its suffix); return the number of frames written.

    width: scale to this width (height keeps the aspect ratio) instead of the frames' own size.
    """
    path = Path(path)
    animation_format(path)
    if fps <= 0:
        raise UsageError(f"fps must be positive, got {fps}")
    if loop < 0:
        raise UsageError(f"loop must be 0 (forever) or a number of plays, got {loop}")
    stream = iter(frames)
    first = next(stream, None)
    if first is None:
        raise InputError(f"{path}: no frames to write")
    shape = first.shape
    if first.dtype != np.uint8 or first.ndim != 3 or shape[2] not in (3, 4):
        raise InputError(f"frames must be uint8 RGB or RGBA images, got {first.dtype} {shape}")
    kind = check_animation(path, *scaled_size(shape[1], shape[0], width), loop)
    if not path.parent.is_dir():
        raise UsageError(f"{path}: folder {path.parent} does not exist")
    remove_stale_temporaries(path)
    # ffmpeg writes the temporary file (locked: no other run takes it for stale), renamed to `path` once complete
    with atomic_output(path) as tmp, open(tmp, "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        command = ffmpeg_command(kind, tmp, shape, fps, loop, width, audio)
        return _pipe_frames(command, first, stream, shape, path)


def scaled_size(width: int, height: int, scaled_width: int | None) -> tuple[int, int]:
    """(width, height) of an animation of width x height frames scaled to `scaled_width` (None: as is)."""
    if scaled_width is None:
        return width, height
    return scaled_width, max(1, round(height * scaled_width / width))


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporary files of earlier writes of `path` that were killed (not locked by a live writer)."""
    removed = []
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        match = TEMPORARY.fullmatch(candidate.name)
        if match is None or match["name"] != path.name or not candidate.is_file():
            continue
        try:
            with open(candidate, "rb") as held:
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: a live write holds it
                candidate.unlink()
            removed.append(candidate)
        except OSError:
            continue
    if removed:
        log.debug(f"removed {len(removed)} temporary file(s) of an interrupted write of {path}")
    return removed


def ffmpeg_command(kind: str, output: Path, shape: tuple[int, ...], fps: float, loop: int,
                   width: int | None, audio: Audio | None) -> list[str]:
    # argv, not ffmpeg-python: a raw pipe in, one encoder out and per-format flags read clearer as a list
    h, w, channels = shape
    alpha = channels == 4 and kind != "mp4"
    rate = Fraction(fps).limit_denominator(1001)
    command = [ffmpeg_binary(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgba" if channels == 4 else "rgb24", "-s", f"{w}x{h}",
               "-framerate", f"{rate.numerator}/{rate.denominator}", "-i", "pipe:0"]
    if audio is not None:
        span = ["-ss", f"{audio.start:g}", *(["-to", f"{audio.end:g}"] if audio.end is not None else [])]
        command += [*span, "-i", file_arg(audio.movie)]
    scale = [] if width is None else [f"scale={width}:{-2 if kind == 'mp4' else -1}:flags=lanczos"]
    if kind == "gif":
        palette = f"palettegen=stats_mode=single:reserve_transparent={int(alpha)}"
        use = "paletteuse=new=1:dither=floyd_steinberg:alpha_threshold=128"
        graph = ",".join([*scale, "split[a][b]"]) + f";[a]{palette}[p];[b][p]{use}"
        repeats = {0: 0, 1: -1}.get(loop, loop - 1)  # the GIF muxer counts repeats: 0 forever, -1 none
        command += ["-filter_complex", graph, "-loop", str(repeats), "-f", "gif"]
    elif kind == "webp":
        command += [*(["-vf", scale[0]] if scale else []), "-c:v", "libwebp_anim", "-quality", "90",
                    "-pix_fmt", "yuva420p" if alpha else "yuv420p", "-loop", str(loop), "-f", "webp"]
    elif kind == "apng":
        command += [*(["-vf", scale[0]] if scale else []), "-c:v", "apng",
                    "-pix_fmt", "rgba" if alpha else "rgb24", "-plays", str(loop), "-f", "apng"]
    else:
        even = w % 2 == 0 and h % 2 == 0 if width is None else width % 2 == 0  # scale=W:-2: even height
        yuv = "yuv420p" if even else "yuv444p"
        command += [*(["-vf", scale[0]] if scale else []), "-map", "0:v",
                    *(["-map", "1:a?", "-c:a", "copy"] if audio is not None else []),
                    "-c:v", "libx264", "-crf", "18", "-preset", "medium", "-pix_fmt", yuv,
                    "-movflags", "+faststart", "-f", "mp4"]
    return command + [file_arg(output)]


def _pipe_frames(command: list[str], first: np.ndarray, rest: Iterator[np.ndarray],
                 shape: tuple[int, ...], path: Path) -> int:
    """Run ffmpeg, write every frame to its stdin; ExternalToolError (ffmpeg's last line) on failure,
    OSError (exit 3, like any full disk) when ffmpeg ran out of space writing `path`."""
    with tempfile.TemporaryFile() as log:
        process = _start_encoder(command, log)
        count = 0
        try:
            for frame in _checked(first, rest, shape):
                process.stdin.write(np.ascontiguousarray(frame).data)
                count += 1
            process.stdin.close()
            code = process.wait()
        except BrokenPipeError:  # ffmpeg stopped early: its exit status and log say why
            code = process.wait()
        except BaseException:
            process.kill()
            process.wait()
            raise
        if code != 0:
            log.seek(0)
            messages = log.read()
            if os.strerror(errno.ENOSPC).encode() in messages:  # not always ffmpeg's last line (MP4)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            raise ExternalToolError(f"ffmpeg failed while writing the animation: {last_error_line(messages)}")
    return count


def _start_encoder(command: list[str], log) -> subprocess.Popen:
    """Start ffmpeg with Ctrl-C (and SIGTERM, where Python handles it) held back until Popen has returned.
    A KeyboardInterrupt raised inside Popen, after the fork, would leave an ffmpeg that nothing stops, which
    could create the temporary file again after write_animation removed it. Held, the signal kills that
    ffmpeg and then raises as it would have."""
    def start() -> subprocess.Popen:
        return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log)

    if threading.current_thread() is not threading.main_thread():
        return start()  # signals are delivered to the main thread: nothing raises here
    held = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    held = {number: handler for number, handler in held.items() if callable(handler)}  # Python raises there
    arrived: list[int] = []
    for number in held:
        signal.signal(number, lambda received, _: arrived.append(received))
    try:
        process = start()
    finally:
        for number, handler in held.items():
            signal.signal(number, handler)
    if arrived:
        process.kill()
        process.wait()
        held[arrived[0]](arrived[0], None)  # raises (KeyboardInterrupt) as the signal would have
    return process


def _checked(first: np.ndarray, rest: Iterator[np.ndarray], shape: tuple[int, ...]) -> Iterator[np.ndarray]:
    yield first
    for index, frame in enumerate(rest, start=1):
        if frame.shape != shape or frame.dtype != np.uint8:
            raise InputError(f"frame {index} is {frame.dtype} {frame.shape}, the first frame is uint8 {shape}; "
                             "all frames of an animation must have the same size")
        yield frame










