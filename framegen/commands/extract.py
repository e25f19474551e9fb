"""PLACEHOLDER: replaced by the real command (work in progress)."""

from framegen.core.errors import UsageError

NAME = "extract"


def run() -> None:
    """(not implemented yet)"""
    raise UsageError("extract is not implemented yet")
