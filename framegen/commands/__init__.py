"""One thin file per subcommand: parse options -> build a pydantic config -> call framegen.core.

Each module has NAME (the subcommand) and run() (the Typer function; its docstring is the help text: a
summary paragraph, an `Examples:` paragraph of one or two command lines, which `--help` shows first, then
prose; see cli.command_help).
Listed in the order of the pipeline, which is the order `framegen --help` shows them.

Start-up stays fast because a command module imports its stage's core module (and so torch, OpenCV,
PySceneDetect...) inside run(), never at module level: `framegen --help` and every `--help` load only
Typer, rich and pydantic, and a command loads only what its stage needs (extract, filter and export-gif
never load torch). At module level, a command imports only the light core modules: console, config,
errors, manifest, workspace.
"""

from framegen.commands import (
    build_dataset,
    evaluate,
    export_gif,
    extract,
    filter as filter_command,
    interpolate,
    synth,
    train,
    weights,
)

COMMANDS = [extract, filter_command, build_dataset, synth, train, interpolate, export_gif, evaluate, weights]
