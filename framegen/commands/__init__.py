"""One thin file per subcommand: parse options -> build a pydantic config -> call framegen.core.

Each module has NAME (the subcommand) and run() (the Typer function; its docstring is the help text).
Listed in the order of the pipeline, which is the order `framegen --help` shows them.
"""

from framegen.commands import build_dataset, evaluate, export_gif, extract, interpolate, synth, train
from framegen.commands import filter as filter_command

COMMANDS = [extract, filter_command, build_dataset, synth, train, interpolate, export_gif, evaluate]
