"""The framegen library. Never imports typer: everything here can be scripted from Python."""
