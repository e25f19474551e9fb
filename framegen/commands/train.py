"""PLACEHOLDER: replaced by the real command (work in progress)."""

from framegen.core.errors import UsageError

NAME = "train"


def run() -> None:
    """(not implemented yet)"""
    raise UsageError("train is not implemented yet")
