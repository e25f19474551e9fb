"""Shared test fixtures. Tests make their own media; only the sample-movie tests need ../shared."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from framegen import console
from framegen.cli import run_cli
from framegen.core.media.ffmpeg import ffmpeg_binary
from framegen.core.media.images import read_png_fast

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FRAMEGEN_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path, monkeypatch):
    """Every test runs in its own folder, so the default workspace `./framegen-work` is private to it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FRAMEGEN_WORKSPACE", raising=False)
    console.setup(0)  # an in-process `cli("-q", ...)` of an earlier test leaves it at -1


@pytest.fixture(autouse=True)
def framegen_home(tmp_path, monkeypatch) -> Path:
    """Every test has its own empty $FRAMEGEN_HOME (installed weights), also seen by its subprocesses: no
    test reads, or fills, the developer's real home, so `auto` and `--checkpoint NAME` act the same in CI."""
    home = tmp_path / "framegen-home"
    monkeypatch.setenv("FRAMEGEN_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """No test downloads: `auto` with no weights installed falls back to flow instead of fetching rife4
    (FRAMEGEN_OFFLINE, seen by subprocesses too). A test of the fetch path removes it and gives a fetch."""
    monkeypatch.setenv("FRAMEGEN_OFFLINE", "1")


@pytest.fixture
def sample_movie() -> Path:
    """The shared 44 s sample movie; tests that need it are skipped where ../shared is absent."""
    movie = SHARED_DATA / "sample_movie.mp4"
    if not movie.exists():
        pytest.skip(f"sample movie not present at {movie}")
    return movie


@pytest.fixture
def cli(capsys):
    """Run framegen in-process: returns (exit_code, stdout, stderr)."""

    def invoke(*args: str) -> tuple[int, str, str]:
        code = run_cli([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


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


def save_published(path: Path, network, prefix: str, extras: list[str]) -> Path:
    """torch.save a network's tensors as a published flownet.pkl: a name prefix, training-only extras."""
    import torch

    state = {f"{prefix}{name}": tensor for name, tensor in network.state_dict().items()}
    state.update({f"{prefix}{name}": torch.ones(2, 2) for name in extras})
    torch.save(state, path)
    return path


def install_random_rife(arch: str, name: str, folder: Path, seed: int = 0) -> Path:
    """Install random weights of `arch` (rife4 / rife3hd) in the published layout as weights NAME in the
    test's $FRAMEGEN_HOME (no download); the export folder."""
    import torch

    from framegen.core.models.registry import build_generator
    from framegen.core.stages import weights

    torch.manual_seed(seed)
    file = save_published(folder / f"{name}.pkl", build_generator(arch, {}), "module.", ["teacher.x"])
    return weights.import_file(file, name)
