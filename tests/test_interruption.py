"""Interruption: Ctrl-C in every stage, kill -9 during build-dataset, two processes on one folder.

A real Ctrl-C sends SIGINT to every process of the terminal's group (framegen, its ffmpeg children, synth's
workers); the subprocess tests do the same (os.killpg on a process started in its own session). Stages
that run no other process are interrupted in-process instead, by a KeyboardInterrupt raised in the middle
of their work, which is what Python turns the SIGINT into. Already covered elsewhere: kill -9 during
extract then rerun (test_extract.py), kill -9 during train then --resume (test_train.py). A training run
stopped by Ctrl-C or SIGTERM inside its loop first saves the step it finished (here).
"""

from __future__ import annotations

import filecmp
import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from helpers.cli import Inputs, make_inputs, one_error_line, unfiltered_frames, written
from helpers.datasets import make_dataset, tiny_config
from helpers.media import frames_with_other_pixels, lavfi
from helpers.paths import REPO
from helpers.processes import ctrl_c, maps, start, synth_workers, wait_until
from numpy.lib.format import open_memmap

from framegen.cli import run_cli
from framegen.core import scenes, scoring
from framegen.core.formats import dataset
from framegen.core.formats.frames import FramesManifest
from framegen.core.manifest import read_manifest
from framegen.core.media import animation
from framegen.core.stages import interpolate
from framegen.core.training.checkpoint import load_checkpoint

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="watches processes through /proc")]


@pytest.fixture(scope="module")
def long_movie(tmp_path_factory) -> Path:
    """20 s of 320x240 at 24 fps: 480 frames, long enough to interrupt."""
    folder = tmp_path_factory.mktemp("movie")
    return lavfi(folder / "long.mp4", "testsrc2=size=320x240:rate=24:duration=20",
                 "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")


@pytest.fixture(scope="module")
def long_frames(long_movie) -> Path:
    """That movie extracted and filtered, uninterrupted."""
    frames = long_movie.parent / "frames"
    assert run_cli(["-q", "extract", str(long_movie), "-o", str(frames)]) == 0
    assert run_cli(["-q", "filter", str(frames)]) == 0
    return frames


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Inputs:
    return make_inputs(tmp_path_factory.mktemp("inputs"))


def test_ctrl_c_while_starting_up(tmp_path):
    """During the seconds of imports (torch is being loaded, inside train's run()): still "Stopped.", not a
    traceback."""
    process = start("train", make_dataset(tmp_path / "data"), "-o", "out")
    wait_until(process, maps(process, "libtorch_cpu"))
    code, err = ctrl_c(process)
    assert (code, err) == (130, "Stopped.\n")
    assert not Path("out").exists()


@pytest.mark.parametrize("stage", ["extract", "synth", "train", "interpolate"])
def test_ctrl_c_stops_a_real_process(cli, long_movie, tmp_path, stage):
    """Exit 130, "Stopped." and nothing else on stderr, no manifest or output; the same command works again."""
    if stage == "extract":
        args = ["extract", long_movie, "-o", "out"]
        process = start(*args)
        wait_until(process, lambda: Path("out/000020.png").exists())  # writing frames
    elif stage == "synth":
        args = ["synth", "-o", "out", "--windows", "300", "--size", "32", "--workers", "2"]
        process = start(*args)
        wait_until(process, maps(process, str(tmp_path / "out/train.npy")))  # starting its workers
    elif stage == "train":
        data = make_dataset(tmp_path / "data")
        args = ["train", data, "-o", "out", "--config", tiny_config(tmp_path), "--max-steps", "100",
                "--batch-size", "1"]
        process = start(*args)
        wait_until(process, maps(process, str(data / "train.npy")))  # loading data, building models
    else:
        movie = lavfi(tmp_path / "short.mp4", "testsrc2=size=160x120:rate=24:duration=4", "-pix_fmt", "yuv420p")
        args = ["interpolate", movie, "-o", "out.mp4", "--engine", "blend"]
        process = start(*args)
        wait_until(process, lambda: any(Path().glob(".out.mp4.*.tmp")))  # ffmpeg encoding
    code, err = ctrl_c(process)
    assert (code, err) == (130, "Stopped.\n")
    assert not Path("out/manifest.json").exists() and not Path("out.mp4").exists()
    assert not list(Path().rglob("*.tmp"))
    if stage == "train":  # resuming a stopped run takes a training step (seconds): check it could
        last = Path("out/checkpoints/last.pt")
        assert not last.exists() or load_checkpoint(last)["step"] >= 1
        return
    if stage == "synth":
        args[-1] = "1"  # the same windows with one worker (a second forkserver start would cost seconds)
    code, _, err = cli("-q", *args)  # no --overwrite needed
    assert code == 0, err


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])
def test_a_training_run_stopped_mid_epoch_saves_that_step_and_resumes_from_it(cli, tmp_path, stop):
    """Ctrl-C (SIGINT to the group, as a terminal sends it) or SIGTERM (to the process, as a scheduler sends
    it) after a training step: that step is checkpointed (none was due: --checkpoint-every 1000), the last
    line says how to resume, exit 130; --resume continues from that very step."""
    data = make_dataset(tmp_path / "data", train=12)  # 12 steps an epoch of one window
    process = subprocess.Popen(
        [sys.executable, "-m", "framegen", "train", str(data), "-o", "run", "--config", str(tiny_config(tmp_path)),
         "--batch-size", "1", "--checkpoint-every", "1000", "--checkpoint-minutes", "100"],
        env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    lines = []
    for line in process.stderr:  # the line the trainer writes after its first step
        lines.append(line)
        if line.startswith("first step"):
            break
    assert process.poll() is None, "".join(lines)
    if stop == "SIGINT":
        os.killpg(process.pid, signal.SIGINT)
    else:
        process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130 and err.endswith("Stopped.\n"), err
    saved = load_checkpoint(Path("run/checkpoints/last.pt"))
    step = saved["step"]
    assert 1 <= step < 12 and (saved["epoch"], saved["batch_in_epoch"]) == (0, step)  # in the middle of epoch 1
    assert f"{'Ctrl-C' if stop == 'SIGINT' else 'SIGTERM'}: stopped after step {step} of 120" in out
    assert out.strip().endswith("resume with: framegen train -o run --resume")
    code, _, err = cli("train", "-o", "run", "--resume", "--max-steps", step + 1)
    assert code == 0, err
    assert f"Resuming run at step {step} (epoch 1, batch {step})" in err
    assert load_checkpoint(Path("run/checkpoints/last.pt"))["step"] == step + 1


def interrupt_after(calls: int, function):
    """`function`, raising KeyboardInterrupt (what SIGINT becomes) at call number `calls` + 1."""
    count = []

    def interrupted(*args, **kwargs):
        count.append(1)
        if len(count) > calls:
            raise KeyboardInterrupt
        return function(*args, **kwargs)

    return interrupted


@contextmanager
def ctrl_c_in(stage: str) -> Iterator[None]:
    """Until the block ends, `stage` is interrupted in the middle of its work."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        if stage == "filter":
            monkeypatch.setattr(scenes, "change_score", interrupt_after(5, scenes.change_score))
        elif stage == "build-dataset":
            monkeypatch.setattr(dataset.DatasetWriter, "add", interrupt_after(2, dataset.DatasetWriter.add))
        elif stage == "interpolate --frames-dir":
            monkeypatch.setattr(interpolate, "write_png", interrupt_after(2, interpolate.write_png))
        elif stage in ("interpolate", "export-gif"):  # while ffmpeg encodes: after 2 frames went into its pipe
            monkeypatch.setattr(animation, "_checked", interrupt_after_two_frames(animation._checked))
        else:
            monkeypatch.setattr(scoring, "all_metrics", interrupt_after(1, scoring.all_metrics))
        yield


def interrupt_after_two_frames(frames):
    """A generator function like `frames` that raises KeyboardInterrupt instead of its third frame."""
    def interrupted(*args):
        for index, frame in enumerate(frames(*args)):
            if index == 2:
                raise KeyboardInterrupt
            yield frame

    return interrupted


@pytest.mark.parametrize("stage", ["filter", "build-dataset", "interpolate", "interpolate --frames-dir",
                                   "export-gif", "evaluate"])
def test_ctrl_c_in_the_middle_of_a_stage(cli, inputs, stage):
    if stage == "filter":
        unfiltered_frames(inputs)
    args = {"filter": ["filter", "frames"],
            "build-dataset": ["build-dataset", inputs.frames, "-o", "out", "--size", "32", "--stride", "1"],
            "interpolate": ["interpolate", inputs.a, inputs.b, "-o", "out.gif"],
            "interpolate --frames-dir": ["interpolate", inputs.a, inputs.b, "-o", "out.gif", "--frames-dir", "out"],
            "export-gif": ["export-gif", inputs.frames, "-o", "out.gif"],
            "evaluate": ["evaluate", inputs.dataset, "-o", "out.json", "--engine", "blend"]}[stage]
    before = written()
    with ctrl_c_in(stage):
        code, out, err = cli("-q", *args)
    assert (code, out, err) == (130, "", "Stopped.\n")
    new = [f for f in written() if f not in before]
    assert not [f for f in new if f.endswith((".json", ".gif", ".tmp"))], new
    code, _, err = cli("-q", *args)  # no --overwrite needed
    assert code == 0, err


@pytest.mark.parametrize("stage", ["interpolate", "filter"])
def test_ctrl_c_as_a_temporary_file_is_created(cli, inputs, monkeypatch, stage):
    """A Ctrl-C that Python raises just after the call that created a temporary file returned, before any
    name came back to the caller: the file is still removed (tempfile.mkstemp's files were left, empty, 0600:
    the CI failure, 3 runs in 60 of the subprocess test above). interpolate's animation and filter's files."""
    real_open = os.open

    def open_then_ctrl_c(file, flags, *args, **kwargs):
        descriptor = real_open(file, flags, *args, **kwargs)
        if str(file).endswith(".tmp"):
            os.close(descriptor)
            raise KeyboardInterrupt
        return descriptor

    if stage == "filter":
        unfiltered_frames(inputs)
    args = {"interpolate": ["interpolate", inputs.a, inputs.b, "-o", "out.gif"],
            "filter": ["filter", "frames"]}[stage]
    before = written()
    with monkeypatch.context() as patch:
        patch.setattr(os, "open", open_then_ctrl_c)
        code, out, err = cli("-q", *args)
    assert (code, out, err) == (130, "", "Stopped.\n")
    assert not [f for f in written() if f not in before]
    assert cli("-q", *args)[0] == 0


def test_ctrl_c_while_ffmpeg_starts(cli, inputs, monkeypatch):
    """Ctrl-C reaching framegen inside Popen, after the fork: that ffmpeg is stopped before the temporary
    file is removed (left running, nothing would stop it, and it could create the file again)."""
    real_popen, started = subprocess.Popen, []

    def popen_then_ctrl_c(*args, **kwargs):
        started.append(real_popen(*args, **kwargs))
        os.kill(os.getpid(), signal.SIGINT)
        return started[-1]

    monkeypatch.setattr(subprocess, "Popen", popen_then_ctrl_c)
    before = written()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # a background pytest ignores SIGINT
    try:
        code, out, err = cli("-q", "interpolate", inputs.a, inputs.b, "-o", "out.gif")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert (code, out, err) == (130, "", "Stopped.\n")
    assert len(started) == 1 and started[0].returncode is not None, "ffmpeg was left running"
    assert not [f for f in written() if f not in before]


def test_kill_9_during_build_dataset_then_rerun_equals_an_uninterrupted_run(cli, long_frames):
    args = ["build-dataset", long_frames, "--size", "64", "--stride", "1"]
    process = start(*args, "-o", "killed")
    array = Path("killed/train.npy")

    def first_window_written() -> bool:
        try:
            return bool(open_memmap(array, mode="r")[0].any())
        except (OSError, ValueError):  # not there yet, or its header not yet written
            return False

    wait_until(process, first_window_written)
    process.kill()
    process.wait()
    assert not Path("killed/manifest.json").exists(), "build-dataset finished before it could be killed"
    assert Path("killed/.framegen-partial").exists()

    assert cli("-q", *args, "-o", "killed")[0] == 0  # no --overwrite needed after a crash
    assert cli("-q", *args, "-o", "clean")[0] == 0
    killed, clean = (json.loads(Path(folder, "manifest.json").read_text()) for folder in ("killed", "clean"))
    for manifest in (killed, clean):
        del manifest["created"], manifest["command"]
    assert killed == clean
    for split in ("train", "val"):
        assert filecmp.cmp(f"killed/{split}.npy", f"clean/{split}.npy", shallow=False)
    assert len(np.load("clean/train.npy", mmap_mode="r")) > 400


def test_a_second_process_on_the_same_folder_is_refused(cli, long_movie, long_frames):
    """While one extract writes `out`, a second is refused (with --overwrite too); the first completes
    and its frames are those of an uninterrupted run, pixel for pixel."""
    process = start("extract", long_movie, "-o", "out")
    wait_until(process, lambda: Path("out/000010.png").exists())
    os.killpg(process.pid, signal.SIGSTOP)  # paused mid-run, holding its lock: the race is not left to timing
    try:
        for extra in ([], ["--overwrite"]):
            code, _, err = cli("-q", "extract", long_movie, "-o", "out", *extra)
            assert code == 2
            one_error_line(err, "another framegen process is writing this folder")
    finally:
        os.killpg(process.pid, signal.SIGCONT)
    assert process.wait(timeout=300) == 0, process.communicate()[1]
    out = read_manifest(FramesManifest, Path("out"))
    reference = read_manifest(FramesManifest, long_frames)
    assert out.frames == reference.frames and out.frame_count == 480
    assert frames_with_other_pixels(Path("out"), long_frames, [frame.file for frame in out.frames[::20]]) == []


def test_a_synth_worker_killed_by_the_system_ends_the_run_with_one_line(tmp_path):
    """A worker killed from outside (the kernel's OOM killer, say): one line and exit 4, no hang, no manifest."""
    process = start("synth", "-o", "out", "--windows", "4000", "--size", "64", "--workers", "2")
    wait_until(process, lambda: len(synth_workers(process.pid)) == 2)
    os.kill(synth_workers(process.pid)[-1], signal.SIGKILL)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 4
    one_error_line(err, "worker process died")
    assert not Path("out/manifest.json").exists()
