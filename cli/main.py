"""`taskgate`: the console script installed with the package."""

import sys
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from cli import dead_letters, queues, schedules, stats, submit_file, tasks, watching, webhooks
from cli.exits import CliError, ExitCode

KEYS = "keys"
# Typer vendors Click in some versions and not in others: its UsageError is, either way,
# what BadParameter derives from.
ClickUsageError: type[Exception] = typer.BadParameter.__bases__[0]


def _fail(message: str, code: int) -> NoReturn:
    sys.stderr.write(f"taskgate: {' '.join(message.split())}\n")
    raise typer.Exit(code)


class TaskgateGroup(TyperGroup):
    """The commands, every failure said in one line, and `keys` loaded only when asked for."""

    # `keys` brings the database's packages, which no HTTP command needs: loading them for
    # every command would double its start-up time.

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), KEYS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name != KEYS:
            return super().get_command(ctx, cmd_name)
        from cli import keys

        command = typer.main.get_command(keys.app)
        command.name = KEYS
        return command

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except ClickUsageError as error:
            _usage_failure(error)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as error:
            _fail(str(error), error.code)
        except ClickUsageError as error:
            _usage_failure(error)


def _usage_failure(error: Exception) -> NoReturn:
    """A usage error in one line; Typer's help for a command given no arguments as it is."""
    if type(error).__name__ == "NoArgsIsHelpError":
        raise error
    where = getattr(error, "ctx", None)
    hint = f" (see {where.command_path} --help)" if where is not None else ""
    _fail(f"{getattr(error, 'format_message', error.__str__)()}{hint}", ExitCode.USAGE)


app = typer.Typer(
    name="taskgate",
    help="Taskgate from the command line: tasks and the dead-letter queue over the HTTP API "
    "(--url, --key), and API keys straight in the database.",
    cls=TaskgateGroup,
    no_args_is_help=True,
    add_completion=False,
    # A crash must never print the API key it was holding.
    pretty_exceptions_show_locals=False,
)
app.command()(tasks.submit)
app.command("submit-file")(submit_file.submit_file)
app.command()(tasks.status)
app.command()(tasks.wait)
app.command()(watching.watch)
app.command()(tasks.cancel)
app.command("ls")(tasks.ls)
app.command()(stats.stats)
app.add_typer(dead_letters.app, name="dlq")
app.add_typer(queues.app, name="queues")
app.add_typer(schedules.app, name="schedules")
app.add_typer(webhooks.app, name="webhooks")


def main() -> None:
    app()
