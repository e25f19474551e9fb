"""The layers of docs/architecture.md, checked by import-linter's contracts in pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_imports_go_one_way():
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    result = subprocess.run([lint, "--config", str(REPO / "pyproject.toml")], cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout and "5 kept" in result.stdout


def test_the_library_logs_and_never_prints():
    """framegen.core talks through `logging` (a Python user can route or silence it): no print() and no
    import of the command line's console."""
    offenders = []
    for path in (REPO / "framegen" / "core").rglob("*.py"):
        text = path.read_text()
        if "print(" in text.replace(".print(", "") or "framegen.console" in text or "from framegen import console" in text:
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
