"""The README and the docs pages stay true: every `framegen ...` line in their code blocks names a real
command and only real options, with values the CLI parses; every option of every command has its row in
docs/commands.md; every link in the README, the changelog and docs/ leads to a file (and heading) that
exists; and quick start 1 (two stills -> a GIF) runs as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer
from PIL import Image

from framegen.cli import click_command, run_cli

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOC_PAGES = sorted((REPO / "docs").glob("*.md"))  # their command lines are checked like the README's own
ROOT_OPTIONS = {"-q", "--quiet", "-v", "--verbose", "--debug"}
SEPARATORS = {"&&", "||", ";", "|", "&"}
QUICK_START_STILLS = "framegen interpolate framegen/examples/a.png framegen/examples/b.png -o out.gif"

COMMAND_START = re.compile(r"^(\S+=\S*\s+)*framegen\s")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\]\(([^)\s]+)\)")


def code_blocks(markdown: str) -> list[str]:
    return FENCE.findall(markdown)


def command_lines(markdown: str) -> list[list[str]]:
    """The arguments after `framegen` of every command in the fenced code blocks: lines joined at a
    trailing backslash, a `$ ` prompt and `# comments` dropped, each part of `a && b` or `a | b` apart,
    `VAR=value` before the command skipped. Lines that do not start a framegen command are output."""
    commands = []
    for block in code_blocks(markdown):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
            lexer.whitespace_split = True
            try:
                tokens = list(lexer)
            except ValueError:  # an unclosed quote: output text, or a command that no shell would run
                if COMMAND_START.match(line):
                    commands.append([f"<unparseable line: {line}>"])
                continue
            part: list[str] = []
            for token in [*tokens, ";"]:
                if token not in SEPARATORS:
                    part.append(token)
                    continue
                while part and "=" in part[0] and not part[0].startswith("-"):
                    part.pop(0)
                if part[:1] == ["framegen"]:
                    commands.append(part[1:])
                part = []
    return commands


def check_command(args: list[str]) -> None:
    """Parse `framegen ARGS` with the real typer app, as far as parsing goes (nothing runs): an unknown
    command or option, a missing argument or a value of the wrong type raises."""
    group = click_command()
    while args and args[0] in ROOT_OPTIONS:
        args = args[1:]
    if args in (["--help"], ["--version"]):
        return
    assert args, "a framegen line without a command"
    name, *rest = args
    assert name in group.commands, f"no such command: framegen {name}"
    command = group.commands[name]
    if "--help" in rest:  # --help exits while parsing; its arguments need not be complete
        known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)} | {"--help"}
        unknown = [arg.split("=")[0] for arg in rest if arg.startswith("-") and arg.split("=")[0] not in known]
        assert not unknown, f"framegen {name}: no such option {unknown}"
        return
    command.make_context(name, rest)


def documented_commands() -> list[tuple[str, list[str]]]:
    pages = [README, *DOC_PAGES]
    return [(f"{page.name}: framegen {shlex.join(args)}", args)
            for page in pages for args in command_lines(page.read_text())]


def test_the_readme_shows_commands() -> None:
    assert len(command_lines(README.read_text())) >= 10
    assert QUICK_START_STILLS in README.read_text()
    assert len(README.read_text().splitlines()) <= 200


@pytest.mark.parametrize("where, args", documented_commands(), ids=lambda value: value if isinstance(value, str) else "")
def test_documented_command_parses(where: str, args: list[str]) -> None:
    try:
        check_command(args)
    except typer.TyperException as error:
        pytest.fail(f"{where}\n  {error.format_message()}")


def command_sections(markdown: str) -> dict[str, str]:
    """docs/commands.md's text under each `## COMMAND` heading."""
    parts = re.split(r"^## ([\w-]+)\s*$", markdown, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


def test_commands_page_documents_every_option() -> None:
    """Every command has its section in docs/commands.md, and every option its row there: a new option
    or command fails here until it is documented."""
    sections = command_sections((REPO / "docs" / "commands.md").read_text())
    missing = []
    for name, command in click_command().commands.items():
        if name not in sections:
            missing.append(f"the section '## {name}'")
            continue
        options = [max(param.opts, key=len) for param in command.params if param.param_type_name == "option"]
        missing += [f"{name} {option}" for option in options if f"| `{option}`" not in sections[name]]
    assert not missing, f"not in docs/commands.md: {missing} (python docs/make_command_tables.py writes the rows)"


def local_links() -> list[tuple[Path, str]]:
    """(page, link) for every link to a file of the repository in the README, the changelog and docs/."""
    pages = [README, REPO / "CHANGELOG.md", *DOC_PAGES]
    return sorted({(page, link) for page in pages if page.exists()
                   for link in LINK.findall(page.read_text()) if not re.match(r"\w+://", link)})


def heading_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page, link", local_links(), ids=lambda value: value if isinstance(value, str) else value.name)
def test_link_leads_somewhere(page: Path, link: str) -> None:
    path, _, anchor = link.partition("#")
    target = page.parent / path if path else page
    assert target.exists(), f"{page.name} links {link}, which does not exist"
    if anchor:
        headings = re.findall(r"^#+ (.*)$", target.read_text(), flags=re.MULTILINE)
        assert anchor in [heading_anchor(heading) for heading in headings], f"{page.name}: no heading for {link}"


def test_readme_links_the_docs() -> None:
    assert len({link for page, link in local_links() if page == README and link.startswith("docs/")}) >= 3


def test_the_checker_catches_a_wrong_line() -> None:
    """The checks above could fail: a wrong command, option, missing argument or value is caught."""
    lines = command_lines("```\n$ framegen interpolate a.png --fames 3 && framegen -q nope\n"
                          "framegen extract  # comment\nFOO=1 framegen train --epochs x\n"
                          "the model's output\nframegen filter 'unclosed\n```\n")
    assert lines[:4] == [["interpolate", "a.png", "--fames", "3"], ["-q", "nope"], ["extract"], ["train", "--epochs", "x"]]
    assert len(lines) == 5
    for args in lines:
        with pytest.raises((typer.TyperException, AssertionError)):
            check_command(args)
    check_command(["-v", "interpolate", "a.png", "b.png", "--frames", "3"])


def test_quick_start_stills_to_gif(tmp_path: Path, monkeypatch, capsys) -> None:
    """Quick start 1 as the README writes it (paths from the repository root, the GIF into a temporary
    folder), with no weights installed, so `auto` is the flow engine: A, six in-betweens and B, at the
    inputs' size."""
    monkeypatch.setenv("FRAMEGEN_HOME", str(tmp_path / "home"))  # no installed weights: auto = flow
    out = tmp_path / "out.gif"
    args = shlex.split(QUICK_START_STILLS)[1:]
    args[args.index("out.gif")] = str(out)
    args = [str(REPO / arg) if arg.startswith("framegen/examples/") else arg for arg in args]
    assert run_cli(args) == 0, capsys.readouterr().err
    assert "(flow engine)" in capsys.readouterr().out
    with Image.open(out) as gif, Image.open(REPO / "framegen/examples/a.png") as a:
        assert gif.n_frames == 8
        assert gif.size == a.size
