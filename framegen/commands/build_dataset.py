"""PLACEHOLDER: replaced by the real command (work in progress)."""

from framegen.core.errors import UsageError

NAME = "build-dataset"


def run() -> None:
    """(not implemented yet)"""
    raise UsageError("build-dataset is not implemented yet")
