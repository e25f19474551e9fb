"""`write_synth_dataset`: rendered windows into a dataset folder (the format of framegen.core.formats.dataset,
through its DatasetWriter), by worker processes that write their rows straight into the split files."""

from __future__ import annotations

import math
import multiprocessing
import os
import select
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import resource_tracker
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from numpy.lib.format import open_memmap

from framegen.core.errors import ExternalToolError
from framegen.core.formats.dataset import (
    DatasetManifest,
    DatasetWriter,
    WindowInfo,
    check_room_for_dataset,
    dataset_bytes,
    write_row,
)
from framegen.core.manifest import MANIFEST_NAME, upstream_ref
from framegen.core.progress import progress
from framegen.core.stages.synth.scene import Scene, SynthConfig, scene_name
from framegen.core.stages.synth.textures import load_textures
from framegen.core.workspace import stage_output

CHUNK = 4  # windows per task sent to a worker process
WORKER_START_SECONDS = 120  # a worker process that is not up by then has failed to start
STOPS = {signal.SIGINT, signal.SIGTERM}  # what stops framegen (core/signals.py)


def split_row(index: int, n_val: int) -> tuple[str, int]:
    """Where scene `index` is stored: scenes 0 .. n_val-1 are the val split, the rest the train split."""
    return ("val", index) if index < n_val else ("train", index - n_val)


@dataclass
class _Worker:
    """What a worker process holds: the scene options, the textures and the split files it writes into."""

    config: SynthConfig
    textures: list[np.ndarray]
    arrays: dict[str, np.memmap]  # uint8 (N, T, H, W, 3), mapped read-only: where each row lies in its file
    files: dict[str, BinaryIO]  # the same files, opened for writing (dataset.write_row)
    n_val: int


_worker: _Worker | None = None


def _init_worker(config: SynthConfig, textures: list[np.ndarray], files: dict[str, str], n_val: int,
                 started, all_started, main_pid: int) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C reaches every process: the main one stops the pool
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # the pool ends a broken worker with it
    _end_with(main_pid)
    cv2.setNumThreads(1)  # one core per worker process
    _worker = _Worker(config, textures, {split: open_memmap(file, mode="r") for split, file in files.items()},
                      {split: open(file, "r+b") for split, file in files.items()}, n_val)
    started.release()
    all_started.acquire()  # the pool starts a new process for a task only while none is idle: no worker may
    # finish a task before the first tasks have started them all


def _end_with(main_pid: int) -> None:
    """Where the system can watch a process (Linux: pidfd), end this worker as soon as the main process ends,
    even killed outright (SIGKILL). Without it, such a worker waits for tasks forever, and with it the
    forkserver and the resource tracker (which end when the last worker does), all holding the caller's
    stdout and stderr open: a script reading them to their end would hang."""
    if not hasattr(os, "pidfd_open"):
        return
    try:
        main = os.pidfd_open(main_pid)
    except ProcessLookupError:
        os._exit(1)  # it has already ended
    except OSError:
        return  # a kernel without pidfd

    def watch() -> None:
        select.select([main], [], [])  # readable once the process has ended
        os._exit(1)

    threading.Thread(target=watch, name="framegen-main-watch", daemon=True).start()


def _render_chunk(indices: range) -> None:
    """Render scenes `indices` and write them into their rows of the dataset files (in a worker process)."""
    for index in indices:
        split, row = split_row(index, _worker.n_val)
        window = Scene(_worker.config, _worker.textures, index).render_window()
        write_row(_worker.files[split], _worker.arrays[split], row, window)
    for file in _worker.files.values():
        file.flush()  # in the files before this chunk is reported done


def _worker_context() -> multiprocessing.context.BaseContext:
    """Start workers from a clean process, never by forking this one: a child forked after OpenCV has run
    its thread pool hangs in cv2.setNumThreads (19 of 20 forks in a test), and each worker needs that call
    to stay on one core. A forkserver that has imported this module once starts workers fast; where there
    is none (Windows), spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


@contextmanager
def _stops_held() -> Iterator[None]:
    """Hold back Ctrl-C and SIGTERM while the forkserver and the workers start: a KeyboardInterrupt in the
    middle of starting them would leave workers waiting for `all_started`, and the pool's shutdown waiting
    for them, forever. The forkserver and workers inherit the blocked signals, so a Ctrl-C, which reaches
    every process of the terminal's group, never lands in their seconds of imports (a KeyboardInterrupt
    traceback each); a worker takes SIGTERM back (`_init_worker`). This process gets the stop as soon as
    the pool is up: blocking covers only this thread, and the kernel may hand the signal to another one
    (OpenCV's, torch's), so Python's handlers are replaced too, by ones that only remember it."""
    interrupted = []
    handlers = {number: signal.signal(number, lambda *_: interrupted.append(True)) for number in STOPS}
    blocked = hasattr(signal, "pthread_sigmask")  # not on Windows
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOPS) if blocked else None
    try:
        yield
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        for number, handler in handlers.items():
            signal.signal(number, handler)
    if interrupted:
        raise KeyboardInterrupt


def _write_windows(writer: DatasetWriter, config: SynthConfig, textures: list[np.ndarray], n_val: int,
                   workers: int) -> Iterator[None]:
    """Fill the writer with scenes 0 .. windows-1, in order; yields once per window (for the progress bar).

    One worker renders in this process. Several write their windows straight into the dataset files
    (pixels never cross a pipe; plain writes, not through a memory map, whose pages would stay in the
    worker's RSS) and this process records them in order; at most 2 chunks per worker are in flight, so
    memory stays bounded.
    """
    frames = list(range(config.length))
    if workers == 1:
        for index in range(config.windows):
            window = Scene(config, textures, index).render_window()
            writer.add(split_row(index, n_val)[0], window, WindowInfo(shot=scene_name(index), frames=frames))
            yield
        return
    files = {split: array.filename for split, array in writer.arrays.items() if len(array)}
    chunks = [range(i, min(i + CHUNK, config.windows)) for i in range(0, config.windows, CHUNK)]
    resource_tracker.ensure_running()  # the pool would start it, which unblocks the signals: start it first
    context = _worker_context()
    with _stops_held():  # a stop between a semaphore's registration with the resource tracker and its
        # finalizer would leave it registered: the tracker prints a "leaked semaphore" warning at exit
        # Semaphores, not an Event: a process killed while waiting on a multiprocessing.Event would hang set()
        started, all_started = context.Semaphore(0), context.Semaphore(0)
        # A ProcessPoolExecutor, not a multiprocessing.Pool: a worker that dies (killed for memory, say) fails
        # the pool instead of leaving this process waiting forever for its tasks.
        executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                       initargs=(config, textures, files, n_val, started, all_started,
                                                 os.getpid()))
    pending = deque()

    def submit(chunk: range) -> None:
        pending.append((chunk, executor.submit(_render_chunk, chunk)))

    def record(chunk: range, result) -> Iterator[None]:
        result.result()  # the worker has written these windows (or raised)
        for index in chunk:
            writer.add_written(split_row(index, n_val)[0], WindowInfo(shot=scene_name(index), frames=frames))
            yield

    try:
        with executor:
            with _stops_held():  # until every worker is up: one still unpickling its start-up data when
                # this process stops would find the pool's semaphores gone and print a traceback
                for chunk in chunks[: 2 * workers]:  # workers start with the first tasks
                    submit(chunk)
                try:
                    wait_for_workers(started, workers, [future for _, future in pending])
                finally:
                    for _ in range(workers):
                        all_started.release()
            for chunk in chunks[2 * workers :]:  # at most 2 chunks per worker in flight: memory stays bounded
                yield from record(*pending.popleft())
                submit(chunk)
            while pending:
                yield from record(*pending.popleft())
    except BrokenProcessPool:
        raise ExternalToolError("synth: a worker process died (out of memory?); try fewer --workers") from None


def wait_for_workers(started, workers: int, futures: list) -> None:
    """Until `workers` processes have released `started`, or one of `futures` failed (a worker died)."""
    deadline = time.monotonic() + WORKER_START_SECONDS
    for _ in range(workers):
        while not started.acquire(timeout=0.1):
            if any(f.done() and f.exception() is not None for f in futures):
                return  # the failure is raised where its result is read
            if time.monotonic() > deadline:
                raise ExternalToolError(f"synth: the worker processes did not start in {WORKER_START_SECONDS} s")


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def write_synth_dataset(config: SynthConfig, folder: Path, overwrite: bool = False) -> DatasetManifest:
    """Render `config.windows` windows into a dataset folder; scenes 0 .. n_val-1 form the val split."""
    textures = load_textures(config.textures) if config.textures is not None else []
    upstream = None
    if config.textures is not None and (Path(config.textures) / MANIFEST_NAME).exists():
        upstream = upstream_ref(folder, Path(config.textures) / MANIFEST_NAME)
    n_val = min(round(config.windows * config.val_fraction), config.windows - 1)
    counts = {"train": config.windows - n_val, "val": n_val}
    workers = min(config.workers or available_cores(), math.ceil(config.windows / CHUNK))
    parameters = config.model_dump(mode="json", exclude={"workers"})  # the output does not depend on it
    inputs = [config.textures] if config.textures is not None else []
    check_room_for_dataset(folder, dataset_bytes(counts, config.length, config.size, config.size))
    with stage_output(folder, "synth", overwrite, inputs=inputs), \
            DatasetWriter(folder, counts, config.length, config.size, config.size) as writer:
        with progress(unit="windows") as bar:
            task = bar.add_task("synth", total=config.windows)
            for _ in _write_windows(writer, config, textures, n_val, workers):
                bar.advance(task)
        return writer.finish(DatasetManifest.header(parameters, upstream) | {"kind": "synthetic"})
