"""PLACEHOLDER: replaced by the real command (work in progress)."""

from framegen.core.errors import UsageError

NAME = "evaluate"


def run() -> None:
    """(not implemented yet)"""
    raise UsageError("evaluate is not implemented yet")
