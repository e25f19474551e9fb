"""PLACEHOLDER: replaced by the real command (work in progress)."""

from framegen.core.errors import UsageError

NAME = "export-gif"


def run() -> None:
    """(not implemented yet)"""
    raise UsageError("export-gif is not implemented yet")
