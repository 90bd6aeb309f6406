"""How `taskgate` ends: its exit codes, and the error that ends a command with one line."""

import enum


class ExitCode(enum.IntEnum):
    """The exit codes of every command (README: Command line)."""

    OK = 0
    # Taskgate refused the request or could not be reached; a confirmation was declined.
    ERROR = 1
    # The command line is wrong: as Typer says of its own options, and a bad --payload, --url
    # or file.
    USAGE = 2
    # The task waited for ended dead or cancelled.
    TASK_FAILED = 3
    # The task had not finished when --timeout ran out.
    TIMED_OUT = 4
    # submit-file: some lines were rejected (the others were submitted).
    LINES_REJECTED = 5


class CliError(Exception):
    """Ends the command: `taskgate: <message>` alone on stderr, and `code`."""

    def __init__(self, message: str, code: ExitCode = ExitCode.ERROR) -> None:
        super().__init__(" ".join(message.split()))
        self.code = code


class UsageError(CliError):
    """The command line asks for something that cannot be done as written."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ExitCode.USAGE)
