"""Shared test fixtures (and only fixtures: the helpers tests share are in helpers/). Tests make their own
media; only the sample-movie tests need ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.paths import SHARED_DATA

from framegen import console
from framegen.cli import run_cli


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

