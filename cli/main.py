"""`taskgate`: the console script installed with the package."""

import typer

from cli import keys

app = typer.Typer(
    name="taskgate",
    help="Taskgate from the command line.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(keys.app, name="keys")


def main() -> None:
    app()
