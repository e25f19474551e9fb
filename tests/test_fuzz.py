"""Fuzz: a bad number anywhere is exit 2 or 3 and one `error:` line, never exit 1 (an internal error).

Every numeric option of every subcommand (found by walking the CLI, so a new option is fuzzed too), every
numeric key of each stage's `--config` file, and every number in the manifests and in an export's
model.json, is given 0, a negative, NaN, inf, a huge value and the wrong type. With at most one line on
stderr and no traceback, a setting (option or config key) must exit 0 (the value is valid) or 2 (usage; NaN,
inf and text always), a number in a document 0 or 3 (bad input).

One test per command or document runs all of its cases, each in-process (run_cli) in a fresh folder, on tiny
inputs made once per module, and reports every case that went wrong at once; an alarm turns a case that
hangs into a failure that names it. `train` stops once its config is resolved (a real step costs seconds);
the `slow` test trains every option case for real (`python -m pytest -m slow tests/test_fuzz.py`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import typing
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest
import typer
from helpers.datasets import TINY_MODEL, make_dataset, tiny_config
from helpers.media import moving_square_frames, textured_square_frames, write_video
from helpers.models import export_tiny

from framegen import console
from framegen.cli import click_command, run_cli
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
    params = click_command().commands[command.removesuffix("-movie")].params
    return [(max(p.opts, key=len), p.type_descriptor.annotation) for p in params
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


def problem(code: int, err: str, codes: tuple[int, ...], value: object = None) -> str | None:
    """What is wrong with a case's outcome, or None: one of the exit `codes`, with at most one `error:` line
    and no traceback; a setting typed as NaN, inf or text is exit 2."""
    lines = err.strip().splitlines()
    if code not in codes:
        return f"exit {code}, expected one of {codes}"
    if value in NOT_NUMBERS and code != 2:
        return f"exit {code}, expected 2 (a usage error)"
    if "Traceback" in err or len(lines) > 1:
        return f"{len(lines)} lines on stderr"
    if code != 0 and not lines[0].startswith("error:"):
        return "no `error:` line"
    return None


SETTING, DOCUMENT, REAL_TRAINING = (0, 2), (0, 3), (0, 2, 3)  # the exit codes a case may give


class Cases:
    """Runs the cases of one test, each in a fresh folder of its own (cwd, FRAMEGEN_HOME, the console's level:
    what the autouse fixtures give a test, so no case sees what an earlier one left), and collects every case
    that went wrong, to report them all at once."""

    def __init__(self, root: Path, capsys, monkeypatch):
        self.root, self.capsys, self.monkeypatch = root, capsys, monkeypatch
        self.run, self.failures = 0, []

    @contextmanager
    def fresh_folder(self) -> Iterator[Path]:
        self.run += 1
        folder = self.root / f"case-{self.run}"
        folder.mkdir()
        self.monkeypatch.setenv("FRAMEGEN_HOME", str(folder / "framegen-home"))
        self.monkeypatch.delenv("FRAMEGEN_WORKSPACE", raising=False)
        console.setup(0)
        self.capsys.readouterr()
        here = os.getcwd()
        os.chdir(folder)
        try:
            yield folder
        finally:
            os.chdir(here)

    def check(self, case: str, inputs: dict[str, Path], args: list[str], codes: tuple[int, ...],
              value: object = None, prepare: Callable[[], None] | None = None) -> None:
        """Run `prepare()`, then `framegen -q ARGS` (run_case), in a fresh folder; note the case if its outcome
        is wrong."""
        with self.fresh_folder():
            try:
                if prepare is not None:
                    prepare()
                code, err = run_case(inputs, args, self.capsys)
            except Exception as e:  # the case broke the test's own machinery: note it, run the others
                self.failures.append(f"{case}: raised {e!r}")
                return
        wrong = problem(code, err, codes, value)
        if wrong:
            self.failures.append(f"{case}: {wrong}: {err.strip()[:300]!r}")

    def assert_none_failed(self) -> None:
        assert self.run > 0
        if self.failures:
            pytest.fail(f"{len(self.failures)} of {self.run} cases failed:\n" + "\n".join(self.failures), pytrace=False)


@pytest.fixture
def cases(tmp_path, capsys, monkeypatch) -> Cases:
    return Cases(tmp_path, capsys, monkeypatch)


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


@pytest.mark.parametrize("command", BASE_ARGS)
def test_numeric_options(inputs, cases, train_stops_at_its_config, command):
    """Every bad value of every numeric option of `command`."""
    for _, flag, value in [case for case in OPTION_CASES if case[0] == command]:
        cases.check(f"{command} {flag} {value}", inputs, [*BASE_ARGS[command], flag, value], SETTING, value)
    cases.assert_none_failed()


@pytest.mark.slow
def test_numeric_train_options_for_real(inputs, cases):
    for command, flag, value in [case for case in OPTION_CASES if case[0] == "train"]:
        cases.check(f"{command} {flag} {value}", inputs, [*BASE_ARGS[command], flag, value], REAL_TRAINING)
    cases.assert_none_failed()


def without_option(args: list[str], flag: str) -> list[str]:
    """`args` less `flag` and its value (a flag would win over the config file's key)."""
    if flag not in args:
        return args
    at = args.index(flag)
    return args[:at] + args[at + 2:]


@pytest.mark.parametrize("command", CONFIGS)
def test_numeric_config_keys(inputs, cases, train_stops_at_its_config, command):
    """`KEY = VALUE` in the --config TOML, for every numeric key of `command`'s config and every bad value
    (train's file keeps its tiny model below the key)."""
    extra = TINY_MODEL if command == "train" else ""
    for key in numeric_fields(CONFIGS[command]):
        args = without_option(without_option(BASE_ARGS[command], "--config"), "--" + key.replace("_", "-"))
        for value in BAD_TOML_VALUES:
            def write_config(text=f"{key} = {value}\n{extra}"):
                Path("fuzz.toml").write_text(text)
            cases.check(f"{command}: {key} = {value}", inputs, [*args, "--config", "fuzz.toml"], SETTING, value,
                        write_config)
    cases.assert_none_failed()


# Each document, the command that reads it, and where the document is in that command's input.
DOCUMENTS = {
    "frames manifest": (["filter", "frames", "--overwrite"], "frames", "manifest.json"),
    "filter manifest": (["build-dataset", "frames", "-o", "out", "--size", "32"], "frames", "filter.json"),
    "dataset manifest": (["evaluate", "dataset", "-o", "out.json", "--engine", "blend", "--max-windows", "1"],
                         "dataset", "manifest.json"),
    "model.json": (["interpolate", "{a}", "{b}", "-o", "out.gif", "--engine", "model", "--checkpoint", "export",
                    "--frames", "1"], "export", "model.json"),
}


@pytest.mark.parametrize("name", DOCUMENTS)
def test_numbers_in_manifests_and_model_json(inputs, cases, name):
    """Each number of the document in turn (the first item of each list) set to each bad value, in a fresh
    copy of the document's folder."""
    args, folder, file = DOCUMENTS[name]
    paths = numbers_in(json.loads((inputs[folder] / file).read_text()))
    assert paths
    for value in BAD_JSON_VALUES:
        for path in paths:
            def write_document(path=path, value=value):
                shutil.copytree(inputs[folder], folder)
                document = Path(folder) / file
                data = json.loads(document.read_text())
                target = data
                for key in path[:-1]:
                    target = target[key]
                target[path[-1]] = value
                document.write_text(json.dumps(data))  # NaN and Infinity as Python's json writes and reads them
            cases.check(f"{name} {'.'.join(map(str, path))} = {value!r}", {**inputs, folder: Path(folder)}, args,
                        DOCUMENT, prepare=write_document)
    cases.assert_none_failed()
