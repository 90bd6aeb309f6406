"""The processes under test: started in sessions of their own, logged to files, always
stopped (SIGTERM, then SIGKILL)."""

import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.systems import ROOT

STOP_TIMEOUT_SECONDS = 20.0


@dataclass
class Process:
    """A child process whose output goes to a log file."""

    name: str
    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def start(self) -> "Process":
        # Own session: Ctrl-C reaches only the benchmark, which then stops its children.
        handle, path = tempfile.mkstemp(prefix=f"taskgate-bench-{self.name}-", suffix=".log")
        self.log_path = Path(path)
        self.popen = subprocess.Popen(
            self.args,
            cwd=ROOT,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        os.close(handle)
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
        if self.log_path is not None and self.popen.returncode in (0, -signal.SIGTERM):
            self.log_path.unlink(missing_ok=True)

    def log_tail(self, chars: int = 3000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]
