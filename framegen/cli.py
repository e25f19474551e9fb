"""The `framegen` command: the root Typer app and the one error boundary.

Every subcommand lives in framegen/commands/ (one thin file each). Errors raised by the library are
typed (framegen.core.errors); here they become one red line on stderr and a documented exit code, and
so do Typer's own usage errors (an unknown option, a missing argument): `error: ...` in lower case, the
flag named as the user types it. Tracebacks are shown only with --debug.

A subcommand's help is its run() docstring (see `command_help`): a one-paragraph summary, an `Examples:`
paragraph of command lines, then prose. `--help` shows the examples first; the summary is the command's
line in `framegen --help`.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
from typing import Optional

import typer
import typer.main
from pydantic import ValidationError
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from framegen import __version__
from framegen.core.errors import EXIT_FILESYSTEM, EXIT_INTERRUPTED, FramegenError, validation_message
from framegen.core.signals import sigterm_as_interrupt

try:
    # pydantic and rich: a fraction of a second, still long enough for a Ctrl-C. torch and OpenCV load
    # later, inside the command's run(), where run_cli handles a Ctrl-C as during any command.
    from framegen.commands import COMMANDS
except KeyboardInterrupt:  # stopped while starting up: the same quiet stop as during a command
    print("Stopped.", file=sys.stderr)
    raise SystemExit(EXIT_INTERRUPTED) from None
from framegen import console

EXAMPLES_HEADER = "Examples:"


def command_help(docstring: str) -> tuple[str, str]:
    """(help, short_help) of a subcommand from its docstring.

    The docstring: a summary paragraph, an optional `Examples:` paragraph (one command line a line), then
    prose paragraphs. The help starts with the examples, then the summary and the prose, each paragraph
    on one line so that rich wraps it to the terminal (a docstring's own line breaks would break its
    sentences in the middle at 80 columns); the example lines stay lines. A docstring is plain text, not rich
    markup: `[model] width = 0.25` shows as written.
    """
    summary, *paragraphs = escape(inspect.cleandoc(docstring)).split("\n\n")
    examples = [p for p in paragraphs if p.startswith(EXAMPLES_HEADER)]
    prose = [" ".join(line.strip() for line in p.splitlines()) for p in [summary, *paragraphs] if p not in examples]
    head = [EXAMPLES_HEADER, "\n".join(line.strip() for line in examples[0].splitlines()[1:])] if examples else []
    return "\n\n".join(head + prose), prose[0]


class FlagsAsFlags:
    """Typer's help with boolean flags shown as flags: no `<bool>` beside --overwrite or --help."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""  # typer shows the metavar, when one is set, in place of the type
        return params


class FramegenCommand(FlagsAsFlags, TyperCommand):
    pass


class FramegenGroup(FlagsAsFlags, TyperGroup):
    pass


app = typer.Typer(
    name="framegen",
    cls=FramegenGroup,
    help="Animate images by frame interpolation: movie -> frames -> dataset -> model -> animation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for command in COMMANDS:
    help_text, summary = command_help(command.run.__doc__)
    app.command(name=command.NAME, cls=FramegenCommand, help=help_text, short_help=summary)(command.run)

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
    console.setup(-1 if quiet else (1 if verbose else 0))


def _fail(message: str, code: int) -> int:
    console.drop_held()
    console.stderr.print(f"[bold red]error:[/bold red] {escape(message)}", soft_wrap=True)  # a path may hold [ ]
    return code


def usage_error_text(error: typer.TyperException) -> str:
    """Typer's usage error (an unknown option, a missing argument, a value it could not parse) as one line:
    `no such option: --nope (see framegen extract --help)`, not three lines of usage and `Error: ...`."""
    param = getattr(error, "param", None)
    cause = error.__cause__
    if param is not None and isinstance(cause, ValidationError):  # typer parses values with pydantic
        text = f"invalid value for {param_name(param)}: {validation_message(cause.errors()[0])}"
    else:
        text = error.format_message()
        if param is not None:
            text = text.replace(param.get_error_hint(), param_name(param))
        text = re.sub(r"\s+", " ", text).strip().removesuffix(".")
        text = re.sub(r"'(--?[\w-]+)'", r"\1", text)  # option '--max-side' requires... -> option --max-side
        text = text.replace(". Choose from:", ": one of")
        text = re.sub(r"\(Possible options: ([^)]*)\)", r"(did you mean \1?)", text)
        text = text[:1].lower() + text[1:]
    context = getattr(error, "ctx", None)
    return text + (f" (see {context.command_path} --help)" if context is not None else "")


def param_name(param) -> str:
    """An option as the user types it (`--max-side`), an argument as its help shows it (`MOVIE`)."""
    if param.param_type_name == "option":
        return max(param.opts, key=len)
    return (param.metavar or param.name).upper()


@functools.cache
def click_command() -> TyperGroup:
    """The click group Typer builds from `app`, built once per process: building it reads every command's
    signature and evaluates its type hints, work a process that runs framegen many times (a Python user's
    loop, the tests) would otherwise repeat on every run."""
    return typer.main.get_command(app)


def run_cli(argv: list[str] | None = None) -> int:
    """Run framegen with `argv`; return the exit code (0 ok, 1 internal, 2 usage, 3 input, 4 tool, 130)."""
    try:
        with sigterm_as_interrupt():  # every command stops on SIGTERM as on Ctrl-C
            rv = click_command().main(args=argv, standalone_mode=False, prog_name="framegen")
        console.release_held()
        if rv == EXIT_INTERRUPTED:  # Typer turns a Ctrl-C inside a command into exit code 130
            console.stderr.print("Stopped.")
        return rv if isinstance(rv, int) else 0
    except typer.Exit as e:
        return e.exit_code
    except (typer.Abort, KeyboardInterrupt) as e:
        console.release_held()
        if not isinstance(e.__cause__, EOFError):
            console.stderr.print("Stopped.")
            return EXIT_INTERRUPTED
        if _debug:  # click turns an EOFError into Abort: a file that ended early, not a stop
            raise e.__cause__
        return internal_error(e.__cause__)
    except typer.TyperException as e:  # bad options or arguments: one line in framegen's words, exit 2
        if _debug:
            raise
        if type(e).__name__ == "NoArgsIsHelpError":  # plain `framegen`: the help is the answer (as typer does)
            e.show()
            return e.exit_code
        return _fail(usage_error_text(e), e.exit_code)
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
        return internal_error(e)


def internal_error(error: BaseException) -> int:
    return _fail(f"internal error: {type(error).__name__}: {error} (rerun with --debug for the traceback)", 1)


def main() -> None:
    sys.exit(run_cli())
