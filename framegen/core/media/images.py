"""Image files in and out. At this boundary images are `uint8 (H, W, 3) RGB` or `uint8 (H, W, 4) RGBA`.

Reading converts what can be converted (16-bit, grayscale, palette, CMYK) and refuses the rest with
one clear InputError line. A header check refuses images too large to hold in memory before decoding,
in every reader (`open_image`; movies: movie.probe_movie). Photos are turned upright by their EXIF
orientation.
"""

from __future__ import annotations

import logging
import struct
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
from isal import isal_zlib
from PIL import Image, ImageDraw, ImageFont, ImageOps, UnidentifiedImageError

from framegen.core.errors import InputError
from framegen.core.files import check_regular_file
from framegen.core.manifest import atomic_write_bytes

log = logging.getLogger(__name__)

MAX_PIXELS = 64_000_000  # 8000 x 8000; a 3840 x 2160 frame is 8.3 M
TOO_LARGE = f"larger than framegen handles ({MAX_PIXELS // 1_000_000} megapixels); scale it down first"
EXIF_ORIENTATION = 0x0112  # the EXIF tag; 1 = upright, the others below
ORIENTATIONS = {2: "mirrored", 3: "upside down", 4: "upside down, mirrored", 5: "on its side, mirrored",
                6: "turned 90 degrees clockwise", 7: "on its other side, mirrored",
                8: "turned 90 degrees anticlockwise"}


class NotAnImageError(InputError):
    """A file that no image decoder recognises (interpolate then takes it for a movie)."""


def read_image(path: Path, keep_alpha: bool = True) -> np.ndarray:
    """Decode an image file to uint8 RGB (H, W, 3), or RGBA (H, W, 4) when it has alpha and keep_alpha;
    turned upright by its EXIF orientation (photos), which -v reports."""
    path = Path(path)
    image = open_image(path)
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{path}: corrupt or truncated image ({e})") from None
    return _to_rgb(upright(image, path), keep_alpha, path)


def open_image(path: Path) -> Image.Image:
    """The image file at `path`, opened (its header read, its pixels not yet decoded) and checked against
    MAX_PIXELS: every image reader calls this before it allocates anything."""
    check_regular_file(path, "an image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # Pillow's own limit, above ours
        raise InputError(f"{path}: the image is {TOO_LARGE}") from None
    except UnidentifiedImageError:
        raise NotAnImageError(f"{path}: not a readable image") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{path}: corrupt or truncated image ({e})") from None
    if image.width * image.height > MAX_PIXELS:
        image.close()
        raise InputError(f"{path}: {image.width}x{image.height} is {TOO_LARGE}")
    return image


def upright(image: Image.Image, path: Path) -> Image.Image:
    """`image` turned and flipped as its EXIF orientation says (a phone photo taken sideways)."""
    orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    if orientation not in ORIENTATIONS:
        return image
    log.debug(f"{path}: turned upright as its EXIF orientation says ({ORIENTATIONS[orientation]})")
    return ImageOps.exif_transpose(image)


def _to_rgb(image: Image.Image, keep_alpha: bool, path: Path) -> np.ndarray:
    if image.mode == "F":  # no agreed range (0..1? 0..255?): converting would guess, e.g. 0..1 became all black
        raise InputError(f"{path}: a 32-bit floating-point image; save it as an 8- or 16-bit PNG first")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit grayscale: scale to 8 bits
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        gray = np.clip(np.round(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    try:
        converted = image.convert("RGBA" if has_alpha and keep_alpha else "RGB")
    except (ValueError, OSError) as e:
        raise InputError(f"{path}: image mode {image.mode} cannot be converted to RGB ({e})") from None
    return np.ascontiguousarray(np.asarray(converted, dtype=np.uint8))


def encode_png(image: np.ndarray, compression: int = 1) -> bytes:
    """PNG bytes of a uint8 RGB(A) image; level 1 is fast and still lossless."""
    if image.ndim == 3 and image.shape[2] == 4:
        bgr = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    else:
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise InputError("could not encode PNG")
    return data.tobytes()


def encode_png_fast(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 (H, W, 3) RGB image, for extracted frames: every row gets PNG's Up filter
    (minus the row above: one numpy subtraction) and ISA-L's deflate at level 1 compresses them.

    On drawn animation this is several times faster than OpenCV's libpng at its fastest settings (level 1,
    run-length, Up filter), for files no larger (bench/bench_extract.py). ISA-L releases the GIL, so frames
    encode in parallel on a thread pool. ISA-L does not promise the same bytes for the same image on every
    run (one CI run wrote 37 of 480 frames a byte shorter); the pixels are always the same.
    """
    height, width, _ = image.shape
    rows = image.reshape(height, width * 3)
    scanlines = np.empty((height, 1 + width * 3), np.uint8)  # each row: its filter type, then its bytes
    scanlines[:, 0] = 2  # Up
    scanlines[0, 1:] = rows[0]  # the row above the first one counts as zeros
    np.subtract(rows[1:], rows[:-1], out=scanlines[1:, 1:])  # modulo 256, as PNG wants
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, deflate, no interlace
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", isal_zlib.compress(scanlines, 1)) + _png_chunk(b"IEND", b""))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def write_png(path: Path, image: np.ndarray) -> None:
    """Write a uint8 RGB(A) image as PNG, atomically."""
    atomic_write_bytes(Path(path), encode_png(image))


def read_png_fast(path: Path) -> np.ndarray:
    """Decode a PNG that framegen wrote itself (frames folders) with OpenCV: uint8 (H, W, 3) RGB. Its
    header is checked first (open_image): a huge image dropped into the folder is refused, not decoded."""
    open_image(Path(path)).close()
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"{path}: missing or unreadable frame")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def with_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """uint8 RGB(A) with `channels` channels: an opaque alpha channel is added where one is missing."""
    if image.shape[2] == channels:
        return image
    return np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])


def label_columns(frames: np.ndarray, labels: list[str], strip: int = 14) -> np.ndarray:
    """uint8 (T, H, W, 3) frames made of len(labels) equally wide columns -> (T, strip + H, W, 3): a white
    strip of `strip` px on top, each column's label in it in black (Pillow's default font, drawn once)."""
    count, _, width, _ = frames.shape
    column = width // len(labels)
    header = Image.new("RGB", (width, strip), "white")
    draw = ImageDraw.Draw(header)
    for index, label in enumerate(labels):
        draw.text((index * column + 3, (strip - 11) // 2), label, fill="black", font=ImageFont.load_default())
    return np.concatenate([np.broadcast_to(np.asarray(header), (count, strip, width, 3)), frames], axis=1)
