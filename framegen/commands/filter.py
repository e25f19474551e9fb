"""PLACEHOLDER: replaced by the real command (work in progress)."""

from framegen.core.errors import UsageError

NAME = "filter"


def run() -> None:
    """(not implemented yet)"""
    raise UsageError("filter is not implemented yet")
