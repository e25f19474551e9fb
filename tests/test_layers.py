"""The layers of docs/architecture.md, checked by import-linter's contracts in pyproject.toml; and the tests'
own rule: what test files share lives in tests/helpers/."""

from __future__ import annotations

import ast
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


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted name) of every module an `import` or `from ... import` names, relative ones with their dots
    and, for `from X import a`, X.a too (a could be a module)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def is_fixture(node: ast.FunctionDef | ast.ClassDef) -> bool:
    return any("fixture" in ast.unparse(decorator) for decorator in node.decorator_list)


def test_test_files_share_code_through_helpers_only():
    """No test file (nor a helper, nor conftest) imports a test module, conftest, or any other module of tests/
    but tests/helpers/: a test file runs on its own and changing one breaks no other. conftest.py holds only
    fixtures and pytest hooks."""
    tests = REPO / "tests"
    others = {p.stem for p in tests.glob("*.py")} | {p.name for p in tests.iterdir() if p.is_dir()}
    others -= {"helpers"}
    assert {"conftest", "test_layers"} <= others
    offenders, helper_imports = [], 0
    for path in sorted(tests.rglob("*.py")):
        for line, name in imported_modules(ast.parse(path.read_text(), str(path))):
            top = name.lstrip(".").split(".")[0]
            if name.startswith(".") or top in others or top.startswith("test_") or top == "tests":
                offenders.append(f"{path.relative_to(REPO)}:{line}: imports {name}")
            helper_imports += top == "helpers"
    assert offenders == []
    assert helper_imports > 10  # the check reads the imports it is about

    conftest = ast.parse((tests / "conftest.py").read_text())
    not_fixtures = [node.name for node in conftest.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))
                    and not (node.name.startswith("pytest_") or is_fixture(node))]
    assert not_fixtures == [], "conftest.py keeps fixtures and hooks only: move helpers to tests/helpers/"
