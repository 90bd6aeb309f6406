"""Real API and worker processes, started and stopped by the tests."""

import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.settings import TEST_ENV

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def environment(env: dict[str, str]) -> dict[str, str]:
    """This process's environment, the tests' settings, and `env` on top."""
    return {**os.environ, **TEST_ENV, **env}


@dataclass
class Process:
    """A child process whose output goes to a log file, shown when a test fails."""

    name: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def start(self) -> "Process":
        handle, path = tempfile.mkstemp(prefix=f"taskgate-{self.name}-", suffix=".log")
        self.log_path = Path(path)
        self.popen = subprocess.Popen(
            self.args,
            cwd=ROOT,
            env=environment(self.env),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        os.close(handle)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        """Send a signal to the whole process group (a `--workers` supervisor and its children)."""
        if self.alive():
            os.killpg(self.pid, signum)

    def kill(self) -> None:
        """SIGKILL, as the OOM killer would, and reap it."""
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(10)

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
        if self.popen is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            return self.popen.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""


def worker(
    *, workers: int = 1, env: dict[str, str] | None = None, log_level: str = "info"
) -> Process:
    """`faststream run --factory subscribers.worker:create_app` as users run it."""
    args = [
        str(BIN / "faststream"),
        "run",
        "--factory",
        "subscribers.worker:create_app",
        "--workers",
        str(workers),
        "--log-level",
        log_level,
    ]
    return Process("worker", args, env or {})


def api(*, port: int, env: dict[str, str] | None = None) -> Process:
    """The API under uvicorn on 127.0.0.1:`port`."""
    args = [
        str(BIN / "uvicorn"),
        "app.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
    ]
    return Process("api", args, env or {})
