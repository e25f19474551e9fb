"""The `framegen` command: the root Typer app and the one error boundary.

Every subcommand lives in framegen/commands/ (one thin file each). Errors raised by the library are
typed (framegen.core.errors); here they become one red line on stderr and a documented exit code.
Tracebacks are shown only with --debug.
"""

from __future__ import annotations

import sys
from typing import Optional

import typer

from framegen import __version__
from framegen.core.errors import EXIT_FILESYSTEM, EXIT_INTERRUPTED, FramegenError

try:
    # pydantic and rich: a fraction of a second, still long enough for a Ctrl-C. torch and OpenCV load
    # later, inside the command's run(), where run_cli handles a Ctrl-C as during any command.
    from framegen.commands import COMMANDS
except KeyboardInterrupt:  # stopped while starting up: the same quiet stop as during a command
    print("Stopped.", file=sys.stderr)
    raise SystemExit(EXIT_INTERRUPTED) from None
from framegen.core import console

app = typer.Typer(
    name="framegen",
    help="Animate images by frame interpolation: movie -> frames -> dataset -> model -> animation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for command in COMMANDS:
    app.command(name=command.NAME)(command.run)

_debug = False


def _show_version(value: bool) -> None:
    if value:
        print(f"framegen {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
    ),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="No progress bars or log lines."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="More detail on stderr."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    global _debug
    _debug = debug
    console.set_verbosity(-1 if quiet else (1 if verbose else 0))


def _fail(message: str, code: int) -> int:
    console.stderr.print(f"[bold red]error:[/bold red] {message}", soft_wrap=True)
    return code


def run_cli(argv: list[str] | None = None) -> int:
    """Run framegen with `argv`; return the exit code (0 ok, 1 internal, 2 usage, 3 input, 4 tool, 130)."""
    try:
        rv = app(args=argv, standalone_mode=False, prog_name="framegen")
        if rv == EXIT_INTERRUPTED:  # Typer turns a Ctrl-C inside a command into exit code 130
            console.stderr.print("Stopped.")
        return rv if isinstance(rv, int) else 0
    except typer.Exit as e:
        return e.exit_code
    except (typer.Abort, KeyboardInterrupt):
        console.stderr.print("Stopped.")
        return EXIT_INTERRUPTED
    except typer.TyperException as e:  # bad options or arguments: Typer's usage message, exit 2
        if _debug:
            raise
        e.show()
        return e.exit_code
    except FramegenError as e:
        if _debug:
            raise
        return _fail(str(e), e.exit_code)
    except OSError as e:  # the file system refused: disk full, read-only folder, permissions
        if _debug:
            raise
        where = f"{e.filename}: " if e.filename else ""
        return _fail(f"{where}{e.strerror or e}", EXIT_FILESYSTEM)
    except Exception as e:  # a bug: one line, the traceback with --debug
        if _debug:
            raise
        return _fail(f"internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)", 1)


def main() -> None:
    sys.exit(run_cli())
