"""Typed errors. `framegen.cli` turns each into one red line on stderr and its exit code.

Exit codes (documented in the README):
    0   ok
    1   internal error (a bug: please report it, rerun with --debug for the traceback)
    2   usage: bad option values, an output folder that is not empty, a folder another process holds
    3   bad input: a missing, unreadable or corrupt file, a manifest of an unknown version; also a file
        that cannot be written (disk full, read-only folder), reported with the operating system's reason
    4   an external tool failed (ffmpeg)
    130 interrupted (Ctrl-C)
"""


def first_validation_error(error) -> tuple[str, str]:
    """(where, what) of the first problem a pydantic ValidationError reports: ("batch_size", "...")."""
    first = error.errors()[0]
    return ".".join(str(p) for p in first["loc"]), first["msg"]


class FramegenError(Exception):
    """Base class of every error framegen reports to the user as one line."""

    exit_code = 1


class UsageError(FramegenError):
    exit_code = 2


class InputError(FramegenError):
    exit_code = 3


class ExternalToolError(FramegenError):
    exit_code = 4


EXIT_FILESYSTEM = 3
EXIT_INTERRUPTED = 130
