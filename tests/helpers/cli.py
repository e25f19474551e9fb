"""The inputs of every stage, made once per test module, and checks of what a failed command printed and
left behind: one `error:` line, no output but the named inputs."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from helpers.datasets import make_dataset, tiny_config
from helpers.media import moving_square_frames, textured_square_frames, write_video
from helpers.models import export_tiny

from framegen.cli import run_cli
from framegen.core.media.images import write_png
from framegen.core.workspace import LOCK_NAME, PARTIAL_NAME


def one_error_line(err: str, *fragments: str) -> None:
    """stderr is exactly one `error: ...` line (run with -q: no log lines), holding every fragment."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def written(root: Path = Path(".")) -> list[str]:
    """Files under `root`, except the two markers of a stage that did not finish (its lock and
    `.framegen-partial`, which tell the next run to redo the folder): what a failed run left as output."""
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*")
                  if not p.is_dir() and p.name not in (LOCK_NAME, PARTIAL_NAME))


def no_output_but(*inputs: str) -> None:
    """Nothing was written in the test's folder, apart from files under the named inputs."""
    left = [f for f in written() if not any(f == i or f.startswith(i + "/") for i in inputs)]
    assert left == [], left


@dataclass
class Inputs:
    movie: Path  # 40 frames of 128x96, a cut at 20
    frames: Path  # that movie extracted and filtered
    dataset: Path  # 6 train + 2 val windows of 64x64
    export: Path  # a tiny exported mipal model
    a: Path  # two 128x96 PNGs, 7 frames apart
    b: Path
    config: Path  # train.toml for a tiny model


def make_inputs(root: Path) -> Inputs:
    """Every stage's input, made under `root` (a module-scoped fixture calls this once per test file)."""
    movie = write_video(root / "clip.mp4", moving_square_frames(40, cuts=(20,)))
    assert run_cli(["-q", "extract", str(movie), "-o", str(root / "frames")]) == 0
    assert run_cli(["-q", "filter", str(root / "frames")]) == 0
    squares = textured_square_frames(8)
    write_png(root / "a.png", squares[0])
    write_png(root / "b.png", squares[7])
    export = export_tiny(root / "export", beats_flow=None).parent
    return Inputs(movie, root / "frames", make_dataset(root / "dataset"), export, root / "a.png", root / "b.png",
                  tiny_config(root))


def copy_input(source: Path, name: str = "input") -> Path:
    """A copy of an input folder in the test's folder, to damage."""
    return Path(shutil.copytree(source, name))


def edit_json(path: Path, change) -> None:
    """`change(data)` applied to the JSON document at `path`, written back in place."""
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def unfiltered_frames(inputs: Inputs) -> Path:
    """./frames: the extracted frames without filter's outputs."""
    frames = copy_input(inputs.frames, "frames")
    (frames / "filter.json").unlink()
    (frames / "filter_scores.csv").unlink()
    return frames
