"""A PgBouncer of the test's own, in transaction pooling mode, in front of the test server:
started on a free port from a temporary directory, and stopped and removed afterwards."""

import asyncio
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.settings import SETTINGS
from tests.support.waiting import wait_for

# Debian installs it outside an ordinary user's PATH (`make test` installs the package).
DEBIAN_BINARY = "/usr/sbin/pgbouncer"
# A test database alias whose pool holds at most two server connections: a test can then
# tell which one a transaction gets.
PAIR_SUFFIX = "_pair"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def binary() -> str | None:
    """The pgbouncer executable, or None where it is not installed."""
    found = shutil.which("pgbouncer")
    if found:
        return found
    return DEBIAN_BINARY if os.access(DEBIAN_BINARY, os.X_OK) else None


@dataclass(frozen=True)
class PgBouncer:
    """A running PgBouncer: the test database under its own name, and under PAIR_SUFFIX."""

    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.asynccontextmanager
async def running_pgbouncer(executable: str) -> AsyncIterator[PgBouncer]:
    """PgBouncer in front of the test server until the block ends, however it ends."""
    directory = Path(tempfile.mkdtemp(prefix="taskgate-pgbouncer-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        port = _free_port()
        config = _write_config(directory, port)
        log_path = directory / "pgbouncer.log"
        process = _start([executable, *_as_user(), str(config)], log_path)
        bouncer = PgBouncer(port=port, log_path=log_path)
        await _wait_listening(process, bouncer)
        yield bouncer
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(directory, ignore_errors=True)


def _write_config(directory: Path, port: int) -> Path:
    host, server_port = SETTINGS.direct_database_address
    database = SETTINGS.db_name
    server = f"host={host} port={server_port} dbname={database}"
    users = directory / "users.txt"
    # With trust, clients give no password; PgBouncer logs in to the server with this one.
    users.write_text(f'"{SETTINGS.db_user}" "{SETTINGS.db_pass.get_secret_value()}"\n')
    config = directory / "pgbouncer.ini"
    config.write_text(
        f"""[databases]
{database} = {server}
{database}{PAIR_SUFFIX} = {server} pool_size=2

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
pool_mode = transaction
auth_type = trust
auth_file = {users}
max_client_conn = 500
default_pool_size = 10
; The default, said aloud: an idle server connection is lent again newest first (LIFO).
server_round_robin = 0
"""
    )
    # Read by the unprivileged user it runs as (see _as_user).
    directory.chmod(0o755)
    for path in (users, config):
        path.chmod(0o644)
    return config


def _as_user() -> list[str]:
    """PgBouncer refuses to run as root: as root, it runs as postgres (or nobody)."""
    if os.geteuid() != 0:
        return []
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return ["-u", name]
    raise RuntimeError("no unprivileged user (postgres, nobody) to run PgBouncer as")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _wait_listening(process: subprocess.Popen[bytes], bouncer: PgBouncer) -> None:
    async def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"PgBouncer exited at start:\n{bouncer.log()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", bouncer.port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True

    await wait_for(listening, timeout=START_TIMEOUT, interval=0.05, what="PgBouncer to listen")


def _start(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)
