"""The CLI's error boundary: exit codes and one-line messages."""

import errno
import os

import pytest

from framegen import __version__
from framegen.core import manifest


def test_version(cli):
    code, out, _ = cli("--version")
    assert code == 0 and out.strip() == f"framegen {__version__}"


def test_unknown_command_is_usage_error(cli):
    code, _, err = cli("no-such-command")
    assert code == 2 and "No such command" in err


def test_help_lists_every_stage(cli):
    code, out, _ = cli("--help")
    assert code == 0
    for name in ["extract", "filter", "build-dataset", "synth", "train", "interpolate", "export-gif", "evaluate"]:
        assert name in out


def test_png_write_on_full_disk_leaves_nothing(monkeypatch, tmp_path):
    """A write that fails with ENOSPC raises (the CLI maps it to exit 3) and leaves no file behind."""

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    from framegen.core import images

    monkeypatch.setattr(images, "atomic_write_bytes", full_disk)
    import numpy as np

    frame = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(OSError):
        images.write_png(tmp_path / "x.png", frame)
    assert not (tmp_path / "x.png").exists()


def test_atomic_write_leaves_no_temp_file_on_failure(tmp_path, monkeypatch):
    import os

    def broken_replace(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        manifest.atomic_write_bytes(tmp_path / "m.json", b"{}")
    assert list(tmp_path.iterdir()) == []


def test_light_commands_never_load_torch(tmp_path):
    """`--help` and the stages without a model (extract, filter's default detector, build-dataset, synth,
    export-gif) start in a fraction of a second: they never import torch (a fresh process, as a user's would
    be)."""
    import subprocess
    import sys

    from conftest import REPO, moving_square_frames, write_video

    movie = write_video(tmp_path / "movie.mp4", moving_square_frames(24))
    commands = [["--help"], ["extract", "--help"], ["-q", "extract", str(movie), "-o", "frames"],
                ["-q", "filter", "frames"], ["-q", "build-dataset", "frames", "-o", "dataset", "--size", "32"],
                ["-q", "synth", "-o", "synth", "--windows", "2", "--size", "32", "--workers", "1"],
                ["-q", "export-gif", "frames", "-o", "movie.gif"]]
    script = (
        "import sys\n"
        "from framegen.cli import run_cli\n"
        f"for argv in {commands!r}:\n"
        "    assert run_cli(argv) == 0, argv\n"
        "    assert 'torch' not in sys.modules, f'{argv} imported torch'\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "movie.gif").exists()
    assert all((tmp_path / folder / "manifest.json").exists() for folder in ("dataset", "synth"))
