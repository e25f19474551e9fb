"""framegen in a child process of its own, and that process's children, read from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from helpers.paths import REPO


def start(*args) -> subprocess.Popen:
    """`python -m framegen -q ARGS` in its own session (so a signal to its group reaches only it and its
    children), in the test's folder. SIGINT gets its default action back: a shell starts background jobs
    with it ignored (and pytest run in the background passes that on), as it would be for framegen."""
    return subprocess.Popen([sys.executable, "-m", "framegen", "-q", *map(str, args)],
                            env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until(process: subprocess.Popen, ready: Callable[[], bool], seconds: float = 120) -> None:
    """Poll `ready` until it holds; fails if the process ends first or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while not ready():
        assert process.poll() is None, f"the process ended first: {process.communicate()[1]}"
        assert time.monotonic() < deadline, "it never got there"
        time.sleep(0.005)


def maps(process: subprocess.Popen, name: str) -> Callable[[], bool]:
    """Ready when the process has mapped a file whose path contains `name` (a library, a dataset array)."""
    def mapped() -> bool:
        try:
            return name in Path(f"/proc/{process.pid}/maps").read_text()
        except OSError:
            return False
    return mapped


def ctrl_c(process: subprocess.Popen) -> tuple[int, str]:
    """SIGINT to the process's whole group, as a terminal's Ctrl-C; (exit code, stderr)."""
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=120)
    return process.returncode, err


def children(pid: int) -> list[int]:
    """The child processes of `pid` (of any of its threads), read from /proc."""
    found = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    except OSError:  # the process or one of its threads has just ended
        pass
    return found


def synth_workers(pid: int) -> list[int]:
    """synth's worker processes: the children of its forkserver, itself a child of framegen."""
    return [worker for child in children(pid) for worker in children(child)]
