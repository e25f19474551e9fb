"""PLACEHOLDER: replaced by the real command (work in progress)."""

from framegen.core.errors import UsageError

NAME = "synth"


def run() -> None:
    """(not implemented yet)"""
    raise UsageError("synth is not implemented yet")
