"""The baseline's configuration (environment variables set by the benchmark), its table and
its queue."""

import os
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractQueue

SCHEMA = """
CREATE TABLE bench_tasks (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    payload jsonb NOT NULL,
    status text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
)
"""


@dataclass(frozen=True)
class Config:
    dsn: str
    amqp_url: str
    queue: str
    prefetch: int
    pool_size: int


def config() -> Config:
    """The settings the benchmark passes in the environment."""
    return Config(
        dsn=os.environ.get(
            "BASELINE_DSN", "postgresql://postgres@127.0.0.1:5432/taskgate_bench_baseline"
        ),
        amqp_url=os.environ.get("BASELINE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
        queue=os.environ.get("BASELINE_QUEUE", "taskgate-bench-baseline.tasks"),
        prefetch=int(os.environ.get("BASELINE_PREFETCH", "64")),
        pool_size=int(os.environ.get("BASELINE_POOL_SIZE", "20")),
    )


async def declare_queue(channel: AbstractChannel, name: str) -> AbstractQueue:
    """The work queue: durable and quorum, as Taskgate's (the API and the worker both
    declare it, whichever starts first)."""
    return await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})


def message(body: bytes) -> aio_pika.Message:
    """A persistent JSON message."""
    return aio_pika.Message(
        body, content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT
    )
