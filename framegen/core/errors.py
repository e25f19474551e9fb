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


# pydantic's error types that read better in framegen's words; `{ge}` etc. come from the error's ctx.
_VALIDATION_PHRASES = {
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "finite_number": "must be a finite number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_type": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "extra_forbidden": "not a known setting",
    "missing": "missing",
}
_QUIET_INPUT = ("extra_forbidden", "missing")  # the value itself says nothing more


def validation_message(problem: dict) -> str:
    """One problem of a pydantic ValidationError in framegen's words, with the value that was given:
    "must be at least 1, got 0" (not pydantic's "Input should be greater than or equal to 1")."""
    kind = problem.get("type", "")
    if kind in _VALIDATION_PHRASES:
        text = _VALIDATION_PHRASES[kind].format(**problem.get("ctx", {}))
    else:
        text = problem["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ").removesuffix(".")
        text = text.replace("Input should be ", "must be ")
        text = text[:1].lower() + text[1:]
    given = repr(problem.get("input"))
    if kind in _QUIET_INPUT or "input" not in problem or isinstance(problem["input"], dict) or given in text:
        return text
    return f"{text}, got {given if len(given) <= 40 else given[:37] + '...'}"


def first_validation_error(error) -> tuple[str, str]:
    """(where, what) of the first problem a pydantic ValidationError reports: ("batch_size", "must be at
    least 1, got 0")."""
    first = error.errors()[0]
    return ".".join(str(p) for p in first["loc"]), validation_message(first)


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, or its type's name when it has none (an EOFError of an
    empty file)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


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
