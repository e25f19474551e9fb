"""Rewrite the option tables of docs/commands.md from the CLI itself (what `framegen COMMAND --help` shows).

    python docs/make_command_tables.py

Each `## COMMAND` section of the page holds one table that starts with TABLE_HEAD; this replaces it with
one row per argument and option of that command, so a new or changed option reaches the docs in one
command (tests/test_docs.py fails while an option has no row).
"""

from __future__ import annotations

import re
from pathlib import Path

from framegen.cli import click_command

PAGE = Path(__file__).with_name("commands.md")
TABLE_HEAD = "| option | value | what it does |"


def option_rows(name: str, command) -> list[str]:
    """The table of one command: arguments first (upper case), then options, long names first."""
    context = command.make_context(name, [], resilient_parsing=True)
    rows = [TABLE_HEAD, "| --- | --- | --- |"]
    for param in command.params:
        record = param.get_help_record(context)
        if record is None:  # hidden
            continue
        declaration, help_text = record
        names, _, value = declaration.partition(" <")
        value = value.removesuffix(">").replace("list[Path]", "paths").replace("|", ", ")
        if param.param_type_name == "argument":
            cell = f"`{names.removesuffix('...').upper()}{' ...' if names.endswith('...') else ''}` (argument)"
        else:
            flags = [flag for part in names.split(" / ") for flag in part.split(", ")]
            cell = ", ".join(f"`{flag}`" for flag in sorted(flags, key=lambda flag: not flag.startswith("--")))
        text = re.sub(r"\s+", " ", help_text.replace("\\[", "[")).replace("|", "\\|")
        rows.append(f"| {cell} | {value} | {text} |")
    return rows


def rewrite(page: str) -> str:
    """The page with each command section's table regenerated."""
    lines = page.splitlines()
    commands = click_command().commands
    section = None
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        heading = re.match(r"^## ([\w-]+)\s*$", line)
        if heading:
            section = heading.group(1)
        if line == TABLE_HEAD and section in commands:
            out += option_rows(section, commands[section])
            while index < len(lines) and lines[index].startswith("|"):
                index += 1
            continue
        out.append(line)
        index += 1
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    PAGE.write_text(rewrite(PAGE.read_text()))
    print(f"rewrote the option tables of {PAGE}")
