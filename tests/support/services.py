"""Stopping and starting the real RabbitMQ and PostgreSQL, for the outage tests."""

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest


def _run(*args: str) -> None:
    # No pipes: a helper daemon these tools may start would hold them open.
    subprocess.run(
        args,
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=120,
    )


def can_control_services() -> bool:
    """Whether this machine lets the tests stop and start both services."""
    return bool(shutil.which("rabbitmqctl") and shutil.which("pg_ctlcluster"))


needs_service_control = pytest.mark.skipif(
    not can_control_services(), reason="rabbitmqctl or pg_ctlcluster is not on this machine"
)


async def stop_rabbitmq() -> None:
    """Stop the RabbitMQ application (the node stays up, the AMQP port closes)."""
    await asyncio.to_thread(_run, "rabbitmqctl", "stop_app")


async def start_rabbitmq() -> None:
    await asyncio.to_thread(_run, "rabbitmqctl", "start_app")
    await asyncio.to_thread(_run, "rabbitmqctl", "await_startup")


def _postgres_cluster() -> str:
    versions = sorted(Path("/etc/postgresql").iterdir(), key=lambda p: int(p.name))
    return versions[-1].name


async def restart_postgresql() -> None:
    """Restart the PostgreSQL server (every connection is dropped)."""
    version = _postgres_cluster()
    await asyncio.to_thread(
        _run, "pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"
    )
