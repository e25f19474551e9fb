"""Fuzz: a bad number anywhere is exit 2 or 3 and one `error:` line, never exit 1 (an internal error).

Every numeric option of every subcommand (found by walking the CLI, so a new option is fuzzed too), every
numeric key of each stage's `--config` file, and every number in the manifests and in an export's
model.json, is given 0, a negative, NaN, inf, a huge value and the wrong type. The command must exit 0
(the value is valid), 2 (usage) or 3 (bad input), with at most one line on stderr and no traceback.
Everything runs in-process (run_cli) on tiny inputs made once per module; an alarm turns a case that hangs
into a failure that names it. `train` stops once its config is resolved (a real step costs seconds); the
`slow` test trains every option case for real (`python -m pytest -m slow tests/test_fuzz.py`).
"""

from __future__ import annotations

import json
import shutil
import signal
import typing
from pathlib import Path

import pytest
import typer.main
from helpers.datasets import make_dataset, tiny_config
from helpers.media import moving_square_frames, textured_square_frames, write_video
from helpers.models import export_tiny

from framegen.cli import app, run_cli
from framegen.core.media.images import write_png
from framegen.core.scenes import FilterConfig
from framegen.core.stages.build_dataset import BuildDatasetConfig
from framegen.core.stages.evaluate import EvaluateConfig
from framegen.core.stages.export_gif import ExportConfig
from framegen.core.stages.extract import ExtractConfig
from framegen.core.stages.interpolate import InterpolateConfig
from framegen.core.stages.synth import SynthConfig
from framegen.core.training.config import TrainConfig

SECONDS_PER_CASE = 60
HUGE_INT = str(10**30)
BAD_OPTION_VALUES = {int: ["0", "-1", HUGE_INT, "nan", "1.5", "abc"],
                     float: ["0", "-1", "nan", "inf", "-inf", "1e308", "abc"]}
BAD_JSON_VALUES = [0, -1, float("nan"), float("inf"), 1e300, 10**30, "abc"]
BAD_TOML_VALUES = ["0", "-1", "nan", "inf", "1e300", "9223372036854775807", '"abc"']

# A valid, fast command line per command: the fuzzed option is appended and, given twice, the last wins.
BASE_ARGS = {
    "extract": ["extract", "{movie}", "-o", "out", "--max-side", "64"],
    "filter": ["filter", "{frames}", "--overwrite"],
    "build-dataset": ["build-dataset", "{frames}", "-o", "out", "--size", "32"],
    "synth": ["synth", "-o", "out", "--windows", "2", "--size", "32", "--workers", "1"],
    "train": ["train", "{dataset}", "-o", "out", "--config", "{config}", "--epochs", "1", "--max-steps", "1",
              "--batch-size", "2"],
    "interpolate": ["interpolate", "{a}", "{b}", "-o", "out.gif", "--engine", "flow", "--frames", "2"],
    "interpolate-movie": ["interpolate", "{movie}", "-o", "out.mp4", "--engine", "blend"],
    "export-gif": ["export-gif", "{frames}", "-o", "out.gif"],
    "evaluate": ["evaluate", "{dataset}", "-o", "out.json", "--engine", "blend", "--max-windows", "1"],
}
CONFIGS = {"extract": ExtractConfig, "filter": FilterConfig, "build-dataset": BuildDatasetConfig,
           "synth": SynthConfig, "train": TrainConfig, "interpolate": InterpolateConfig,
           "export-gif": ExportConfig, "evaluate": EvaluateConfig}


def numeric_options(command: str) -> list[tuple[str, type]]:
    """The options of `framegen COMMAND` that take an int or a float: (--flag, type)."""
    click_command = typer.main.get_command(app).commands[command.removesuffix("-movie")]
    return [(max(p.opts, key=len), p.type_descriptor.annotation) for p in click_command.params
            if p.param_type_name == "option" and p.type_descriptor.annotation in (int, float)]


def numeric_fields(config: type) -> list[str]:
    """The fields of a pydantic config that hold an int or a float (also optional ones)."""
    def numeric(annotation) -> bool:
        return annotation in (int, float) or any(numeric(a) for a in typing.get_args(annotation))
    return [name for name, field in config.model_fields.items() if numeric(field.annotation)]


def numbers_in(data, path: tuple = ()) -> list[tuple]:
    """The paths of the numbers in a JSON document (the first item of each list only), and of numbers
    written as text such as a frame rate "24/1"."""
    if isinstance(data, dict):
        return [p for key, value in data.items() for p in numbers_in(value, path + (key,))]
    if isinstance(data, list):
        return numbers_in(data[0], path + (0,)) if data else []
    is_fraction = isinstance(data, str) and data.replace("/", "", 1).isdigit()
    is_number = isinstance(data, (int, float)) and not isinstance(data, bool)
    return [path] if is_number or is_fraction else []


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fuzz-inputs")
    movie = write_video(root / "clip.mp4", moving_square_frames(24, size=(48, 64), cuts=(12,)))
    assert run_cli(["-q", "extract", str(movie), "-o", str(root / "frames")]) == 0
    assert run_cli(["-q", "filter", str(root / "frames")]) == 0
    squares = textured_square_frames(8, size=(48, 64))
    write_png(root / "a.png", squares[0])
    write_png(root / "b.png", squares[7])
    return dict(movie=movie, frames=root / "frames", a=root / "a.png", b=root / "b.png",
                dataset=make_dataset(root / "dataset", train=2, val=2), config=tiny_config(root),
                export=export_tiny(root / "export", beats_flow=None).parent)


class RanTooLong(Exception):
    """Not an OSError (as TimeoutError is), which the CLI would report as a file system's refusal."""


def run_case(inputs: dict[str, Path], args: list[str], capsys) -> tuple[int, str]:
    """Run `framegen -q ARGS` here ({name} is an input; {frames} is a private copy, as filter writes into
    it); (exit code, stderr). An alarm stops a case that runs away."""
    if any("{frames}" in a for a in args) and not Path("frames").exists():
        shutil.copytree(inputs["frames"], "frames")
    paths = {**{name: str(path) for name, path in inputs.items()}, "frames": "frames"}

    def too_long(signum, frame):
        raise RanTooLong(f"still running after {SECONDS_PER_CASE} s")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(SECONDS_PER_CASE)
    try:
        code = run_cli(["-q", *[a.format(**paths) for a in args]])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, capsys.readouterr().err


NOT_NUMBERS = ("nan", "inf", "-inf", "0.5,inf", "abc", '"abc"')  # never a valid setting


def assert_handled(code: int, err: str, case: str, value: object = None) -> None:
    """Exit 0, 2 or 3 with at most one `error:` line; a setting typed as NaN, inf or text is exit 2."""
    lines = err.strip().splitlines()
    assert code in (0, 2, 3), f"{case}: exit {code}: {err}"
    if value in NOT_NUMBERS:
        assert code == 2, f"{case}: exit {code}, expected 2 (a usage error): {err}"
    assert "Traceback" not in err and len(lines) <= 1, f"{case}: {err}"
    assert code == 0 or lines[0].startswith("error:"), f"{case}: {err}"


OPTION_CASES = [(command, flag, value) for command in BASE_ARGS for flag, kind in numeric_options(command)
                for value in BAD_OPTION_VALUES[kind]]
OPTION_CASES += [("interpolate", "--times", value) for value in ["0", "1", "nan", "0.5,inf", "-1", "abc", ""]]
OPTION_CASES += [("train", "--mix", value) for value in ["0", "nan", "inf", "-1", "1e308", "abc"]]


@pytest.fixture
def train_stops_at_its_config(monkeypatch):
    """`train` accepts or refuses its resolved config, then stops (exit 0) before training: a real run costs
    10-30 s on a busy 2-core machine. test_numeric_train_options_for_real (-m slow) trains each case."""
    from framegen.core.training import loop as trainer

    def accepted(config, *args, **kwargs):
        assert isinstance(config, trainer.TrainConfig)
        raise typer.Exit(0)

    monkeypatch.setattr(trainer, "train", accepted)


def option_case_id(case) -> str:
    return " ".join(case)


@pytest.mark.parametrize("command, flag, value", OPTION_CASES, ids=map(option_case_id, OPTION_CASES))
def test_numeric_options(inputs, capsys, train_stops_at_its_config, command, flag, value):
    code, err = run_case(inputs, [*BASE_ARGS[command], flag, value], capsys)
    assert_handled(code, err, f"{command} {flag} {value}", value)


TRAIN_CASES = [case for case in OPTION_CASES if case[0] == "train"]


@pytest.mark.slow
@pytest.mark.parametrize("command, flag, value", TRAIN_CASES, ids=map(option_case_id, TRAIN_CASES))
def test_numeric_train_options_for_real(inputs, capsys, command, flag, value):
    code, err = run_case(inputs, [*BASE_ARGS[command], flag, value], capsys)
    assert_handled(code, err, f"{command} {flag} {value}")


def without_option(args: list[str], flag: str) -> list[str]:
    """`args` less `flag` and its value (a flag would win over the config file's key)."""
    if flag not in args:
        return args
    at = args.index(flag)
    return args[:at] + args[at + 2:]


CONFIG_CASES = [(command, key, value) for command, config in CONFIGS.items() for key in numeric_fields(config)
                for value in BAD_TOML_VALUES]


@pytest.mark.parametrize("command, key, value", CONFIG_CASES, ids=map(option_case_id, CONFIG_CASES))
def test_numeric_config_keys(inputs, capsys, train_stops_at_its_config, command, key, value):
    """`KEY = VALUE` in the --config TOML (train's file keeps its tiny model below the key)."""
    extra = Path(inputs["config"]).read_text() if command == "train" else ""
    Path("fuzz.toml").write_text(f"{key} = {value}\n{extra}")
    args = without_option(without_option(BASE_ARGS[command], "--config"), "--" + key.replace("_", "-"))
    code, err = run_case(inputs, [*args, "--config", "fuzz.toml"], capsys)
    assert_handled(code, err, f"{command}: {key} = {value}", value)


# Each document, the command that reads it, and where the document is in that command's input.
DOCUMENTS = {
    "frames manifest": (["filter", "frames", "--overwrite"], "frames", "manifest.json"),
    "filter manifest": (["build-dataset", "frames", "-o", "out", "--size", "32"], "frames", "filter.json"),
    "dataset manifest": (["evaluate", "dataset", "-o", "out.json", "--engine", "blend", "--max-windows", "1"],
                         "dataset", "manifest.json"),
    "model.json": (["interpolate", "{a}", "{b}", "-o", "out.gif", "--engine", "model", "--checkpoint", "export",
                    "--frames", "1"], "export", "model.json"),
}


@pytest.mark.parametrize("value", BAD_JSON_VALUES, ids=map(repr, BAD_JSON_VALUES))
@pytest.mark.parametrize("name", DOCUMENTS)
def test_numbers_in_manifests_and_model_json(inputs, capsys, name, value):
    """Each number of the document in turn (the first item of each list) set to `value`, in a fresh copy."""
    args, folder, file = DOCUMENTS[name]
    paths = numbers_in(json.loads((inputs[folder] / file).read_text()))
    assert paths
    for path in paths:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(inputs[folder], folder)
        document = Path(folder) / file
        data = json.loads(document.read_text())
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        document.write_text(json.dumps(data))  # NaN and Infinity as Python's json writes and reads them
        code, err = run_case({**inputs, folder: Path(folder)}, args, capsys)
        assert_handled(code, err, f"{name} {'.'.join(map(str, path))} = {value!r}")
