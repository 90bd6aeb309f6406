"""The processes under test: started in sessions of their own, logged to files, always
stopped (SIGTERM, then SIGKILL)."""

import asyncio
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from benchmarks.systems import ROOT

STOP_TIMEOUT_SECONDS = 20.0

Result = TypeVar("Result")


@dataclass
class Process:
    """A child process whose output goes to a log file."""

    name: str
    args: tuple[str, ...]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> "Process":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # Own session: Ctrl-C reaches only the benchmark, which then stops its children.
            self.popen = subprocess.Popen(
                self.args,
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was not started"
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL if it has not exited in time."""
        if self.popen is None:
            return
        for signum in (signal.SIGTERM, signal.SIGKILL):
            if self.popen.poll() is not None:
                break
            try:
                os.killpg(self.pid, signum)
            except ProcessLookupError:
                break
            try:
                self.popen.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                continue

    def log_tail(self, chars: int = 3000) -> str:
        if not self.log_path.exists():
            return ""
        return f"{self.log_path}:\n" + self.log_path.read_text(errors="replace")[-chars:]


def cancel_on_sigterm() -> None:
    """Make SIGTERM end the running benchmark as Ctrl-C does: its `finally` blocks stop the
    processes and remove the queues and databases."""
    main = asyncio.current_task()
    assert main is not None, "call from the main task"
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)


def run_benchmark(
    bench: Callable[[str], Coroutine[Any, Any, Result]],
    module: str,
    argv: Sequence[str] | None,
    *,
    removed: str = "bench queues and database",
) -> Result:
    """Run `bench(command)`, `command` being the line that reproduces the run (`python -m
    module ...`), with SIGTERM ending it as Ctrl-C does; either stops the program with one
    line saying what its cleanup removed."""
    command = shlex.join(["python", "-m", module, *(argv or sys.argv[1:])])

    async def until_interrupted() -> Result:
        cancel_on_sigterm()
        return await bench(command)

    try:
        return asyncio.run(until_interrupted())
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit(f"interrupted: processes stopped, {removed} removed")
