"""PLACEHOLDER: replaced by the real command (work in progress)."""

from framegen.core.errors import UsageError

NAME = "interpolate"


def run() -> None:
    """(not implemented yet)"""
    raise UsageError("interpolate is not implemented yet")
