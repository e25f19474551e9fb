"""The CLI's error boundary: exit codes and one-line messages."""

import errno
import os

import pytest
from rich.text import Text

from framegen import __version__
from framegen.cli import command_help
from framegen.commands import COMMANDS
from framegen.core import manifest


def test_version(cli):
    code, out, _ = cli("--version")
    assert code == 0 and out.strip() == f"framegen {__version__}"


def test_unknown_command_is_usage_error(cli):
    code, _, err = cli("no-such-command")
    assert code == 2 and err == "error: no such command 'no-such-command' (see framegen --help)\n"


@pytest.mark.parametrize("args, message", [
    (["extract", "--nope"], "error: no such option: --nope (see framegen extract --help)"),
    (["extract"], "error: missing argument MOVIE (see framegen extract --help)"),
    (["interpolate", "a.png", "b.png", "--frame", "3"],
     "error: no such option: --frame (did you mean --frames, --frames-dir?) (see framegen interpolate --help)"),
    (["build-dataset", "--size", "abc"],
     "error: invalid value for --size: must be a whole number, got 'abc' (see framegen build-dataset --help)"),
    (["weights"], "error: missing argument ACTION: one of fetch, import, list (see framegen weights --help)"),
    (["extract", "movie.mp4", "--max-side"], "error: option --max-side requires an argument"),
])
def test_usage_errors_are_one_line_in_one_style(cli, args, message):
    """Typer's own errors (unknown option, missing argument, unparsable value) read like framegen's: one
    `error:` line naming the flag, with a pointer to the help; not three lines of usage and `Error:`."""
    code, _, err = cli(*args)
    assert code == 2 and err == message + "\n"


@pytest.mark.parametrize("args, message", [
    (["extract", "movie.mp4", "--max-side", "-5"], "error: invalid value for --max-side: must be at least 0, got -5"),
    (["interpolate", "a.png", "b.png", "--fps", "nan"],
     "error: invalid value for --fps: must be a finite number, got nan"),
    (["evaluate", "ds", "--max-windows", "0"], "error: invalid value for --max-windows: must be at least 1, got 0"),
])
def test_bad_values_name_the_flag_in_plain_words(cli, args, message):
    """The flag as typed (`--max-side`, not the config field `max_side`) and no pydantic wording."""
    code, _, err = cli(*args)
    assert code == 2 and err == message + "\n"


def test_bad_value_in_a_config_file_names_the_file_and_key(cli, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("max_side = -5\nsharpness = 2\n")
    code, _, err = cli("extract", "movie.mp4", "--config", config)
    assert code == 2 and err == f"error: {config}: invalid value for max_side: must be at least 0, got -5\n"
    config.write_text("sharpness = 2\n")
    code, _, err = cli("extract", "movie.mp4", "--config", config)
    assert code == 2 and err == f"error: {config}: invalid value for sharpness: not a known setting\n"
    code, _, err = cli("extract", "movie.mp4", "--config", config, "--max-side", "-5")  # the flag wins
    assert code == 2 and err == "error: invalid value for --max-side: must be at least 0, got -5\n"


def test_brackets_in_a_message_are_printed_as_they_are(cli):
    """A path such as `shots[1]` is not rich markup: it used to print as `shots`."""
    code, _, err = cli("filter", "shots[1]")
    assert code == 3 and err == "error: shots[1]: no such folder\n"


def test_a_missing_default_input_names_the_stage_to_run(cli):
    code, _, err = cli("build-dataset")
    assert code == 3 and "run `framegen extract` first" in err


def render_help(cli, monkeypatch, command: str) -> str:
    """`framegen COMMAND --help` as rich renders it in an 80-column terminal."""
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = cli(command, "--help")
    assert code == 0
    return out


def description(help_text: str) -> list[list[str]]:
    """The paragraphs (lists of lines) between the usage line and the first panel of a rendered help."""
    top = help_text.split("╭")[0].splitlines()
    paragraphs, current = [], []
    for line in [line.strip() for line in top if not line.strip().startswith("Usage:")]:
        if line:
            current.append(line)
        elif current:
            paragraphs.append(current)
            current = []
    return paragraphs + ([current] if current else [])


@pytest.mark.parametrize("command", [c.NAME for c in COMMANDS])
def test_help_reads_well_in_80_columns(cli, monkeypatch, command):
    """No help text cut short (`…`), no `<bool>` beside a flag, and no paragraph broken mid-sentence: every
    line of a prose paragraph but its last fills most of the width."""
    help_text = render_help(cli, monkeypatch, command)
    assert "…" not in help_text and "<bool>" not in help_text
    assert "\\[" not in help_text  # a markup escape printed as it is (the docstring is plain text)
    prose = [p for p in description(help_text) if not p[0].startswith("framegen ")]
    for paragraph in prose:
        assert all(len(line) >= 55 for line in paragraph[:-1]), paragraph


@pytest.mark.parametrize("command", [c.NAME for c in COMMANDS])
def test_help_starts_with_examples(cli, monkeypatch, command):
    paragraphs = description(render_help(cli, monkeypatch, command))
    assert paragraphs[0] == ["Examples:"]
    assert 1 <= len(paragraphs[1]) <= 2 and all(line.startswith(f"framegen {command}") for line in paragraphs[1])


def test_command_help_puts_examples_first_and_unwraps_prose():
    doc = """Summary
    on two lines.

    Examples:
        framegen x a
        framegen x b

    More
    prose.
    """
    assert command_help(doc) == ("Examples:\n\nframegen x a\nframegen x b\n\nSummary on two lines.\n\nMore prose.",
                                 "Summary on two lines.")


def test_command_help_is_plain_text_not_markup():
    """`[model]` in a docstring was rich markup: train's help printed `e.g.  width = 0.25`."""
    help_text, _ = command_help("Summary.\n\nSet [model] width = 0.25 in the TOML.")
    assert "[model] width" in Text.from_markup(help_text).plain


def test_help_lists_every_stage(cli):
    code, out, _ = cli("--help")
    assert code == 0
    for name in ["extract", "filter", "build-dataset", "synth", "train", "interpolate", "export-gif", "evaluate"]:
        assert name in out


def test_png_write_on_full_disk_leaves_nothing(monkeypatch, tmp_path):
    """A write that fails with ENOSPC raises (the CLI maps it to exit 3) and leaves no file behind."""

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    from framegen.core.media import images

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
    """`--help`, the stages without a model (extract, filter's default detector, build-dataset, synth,
    export-gif) and `interpolate` with an engine that runs no network (two images, a movie; `auto` with no
    weights installed, offline, is flow) start in a fraction of a second: they never import torch (a fresh
    process, as a user's would be)."""
    import subprocess
    import sys

    from helpers.media import moving_square_frames, write_video
    from helpers.paths import REPO

    movie = write_video(tmp_path / "movie.mp4", moving_square_frames(24))
    commands = [["--help"], ["extract", "--help"], ["-q", "extract", str(movie), "-o", "frames"],
                ["-q", "filter", "frames"], ["-q", "build-dataset", "frames", "-o", "dataset", "--size", "32"],
                ["-q", "synth", "-o", "synth", "--windows", "2", "--size", "32", "--workers", "1"],
                ["-q", "export-gif", "frames", "-o", "movie.gif"],
                ["-q", "interpolate", "frames/000001.png", "frames/000009.png", "--engine", "blend", "-o", "blend.gif"],
                ["-q", "interpolate", "frames/000001.png", "frames/000009.png", "-o", "auto.gif"],
                ["-q", "interpolate", str(movie), "--engine", "flow", "-o", "double.mp4"]]
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
    assert all((tmp_path / name).exists() for name in ("movie.gif", "blend.gif", "auto.gif", "double.mp4"))
    assert all((tmp_path / folder / "manifest.json").exists() for folder in ("dataset", "synth"))


def test_opencv_warnings_do_not_break_the_one_line_rule(tmp_path):
    """A frame missing from a frames folder: OpenCV used to print its own `[ WARN ]` line before framegen's
    error. In a fresh process, as a user's (OpenCV is silenced before it is first imported)."""
    import subprocess
    import sys

    from helpers.media import moving_square_frames, write_video
    from helpers.paths import REPO

    movie = write_video(tmp_path / "movie.mp4", moving_square_frames(12))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "framegen", "-q", "extract", str(movie), "-o", "frames"], cwd=tmp_path,
                   env=env, check=True, capture_output=True)
    (tmp_path / "frames" / "000005.png").unlink()
    result = subprocess.run([sys.executable, "-m", "framegen", "-q", "filter", "frames"], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 3
    assert result.stderr.startswith("error: frames/000005.png: ") and len(result.stderr.splitlines()) == 1


def test_opencv_log_is_silent_unless_verbose(capfd):
    """OpenCV writes its `[ WARN ]` lines to file descriptor 2 itself; -v lets them through."""
    import cv2

    from framegen import console

    try:
        for verbosity, shown in [(0, False), (1, True)]:
            console.setup(verbosity)
            assert cv2.imread("no-such-image.png") is None
            assert ("WARN" in capfd.readouterr().err) == shown
    finally:
        console.setup(0)


def test_python_warnings_become_verbose_lines(cli, monkeypatch):
    """numpy's RuntimeWarning (or any Python warning) during a command: nothing on stderr but the error line,
    and a debug line with -v."""
    import warnings

    import numpy as np

    from framegen.core import workspace
    from framegen.core.errors import InputError

    def warn_then_fail(folder, stage):
        warnings.simplefilter("always")
        np.float64(1.0) / np.float64(0.0)  # RuntimeWarning: divide by zero
        raise InputError("frames: refused")

    monkeypatch.setattr(workspace, "input_folder", warn_then_fail)
    code, _, err = cli("filter", "frames")
    assert code == 3 and err == "error: frames: refused\n"
    code, _, err = cli("-v", "filter", "frames")
    assert code == 3 and "RuntimeWarning: divide by zero" in err and err.endswith("error: frames: refused\n")
