"""The baseline's HTTP API: insert the row (committed), publish it confirmed, answer 202."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractRobustConnection
from fastapi import FastAPI, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from benchmarks.baseline.config import config, declare_queue, message

# With no outbox to fall back on, the confirm is awaited as long as a client waits.
PUBLISH_TIMEOUT_SECONDS = 30.0
INSERT = "INSERT INTO bench_tasks (id, name, payload, status) VALUES ($1, $2, $3, 'queued')"
INSERT_MANY = """
INSERT INTO bench_tasks (id, name, payload, status)
SELECT id, name, payload, 'queued'
FROM unnest($1::uuid[], $2::text[], $3::jsonb[]) AS t(id, name, payload)
"""


class TaskIn(BaseModel):
    name: str
    payload: dict[str, Any] = Field(default_factory=dict)


class BatchIn(BaseModel):
    tasks: list[TaskIn] = Field(min_length=1, max_length=1000)


@dataclass(frozen=True)
class Resources:
    """One pool, one connection, one confirming channel: shared by every request."""

    pool: Any
    connection: AbstractRobustConnection
    channel: AbstractChannel
    queue: str

    async def publish(self, task_id: uuid.UUID, task: TaskIn) -> None:
        """Publish persistent and mandatory; returns once the broker confirmed it."""
        body = json.dumps({"id": str(task_id), "name": task.name, "payload": task.payload})
        await self.channel.default_exchange.publish(
            message(body.encode()),
            routing_key=self.queue,
            mandatory=True,
            timeout=PUBLISH_TIMEOUT_SECONDS,
        )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = config()
    # Fixed size: connections are opened once, at start.
    pool = await asyncpg.create_pool(
        settings.dsn, min_size=settings.pool_size, max_size=settings.pool_size
    )
    connection = await aio_pika.connect_robust(settings.amqp_url)
    # Confirms on; an unroutable message raises instead of vanishing.
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    await declare_queue(channel, settings.queue)
    app.state.resources = Resources(pool, connection, channel, settings.queue)
    try:
        yield
    finally:
        await connection.close()
        await pool.close()


app = FastAPI(title="Taskgate benchmark baseline", lifespan=lifespan)


async def _publish_all(resources: Resources, tasks: list[tuple[uuid.UUID, TaskIn]]) -> None:
    try:
        await asyncio.gather(*(resources.publish(task_id, task) for task_id, task in tasks))
    except Exception as error:
        # No outbox here: the row stays queued and unsent; the client is told to retry.
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "not published") from error


@app.post("/tasks", status_code=status.HTTP_202_ACCEPTED)
async def submit(task: TaskIn, request: Request) -> dict[str, str]:
    """Record one task (committed: a statement outside a transaction), then publish it."""
    resources: Resources = request.app.state.resources
    task_id = uuid.uuid4()
    await resources.pool.execute(INSERT, task_id, task.name, json.dumps(task.payload))
    await _publish_all(resources, [(task_id, task)])
    return {"id": str(task_id), "status": "queued"}


@app.post("/tasks/batch", status_code=status.HTTP_202_ACCEPTED)
async def submit_batch(batch: BatchIn, request: Request) -> dict[str, list[dict[str, str]]]:
    """Record every task in one multi-row INSERT, then publish them all, confirmed."""
    resources: Resources = request.app.state.resources
    tasks = [(uuid.uuid4(), task) for task in batch.tasks]
    await resources.pool.execute(
        INSERT_MANY,
        [task_id for task_id, _ in tasks],
        [task.name for _, task in tasks],
        [json.dumps(task.payload) for _, task in tasks],
    )
    await _publish_all(resources, tasks)
    return {"items": [{"id": str(task_id), "status": "queued"} for task_id, _ in tasks]}


@app.get("/ready")
async def ready(request: Request, response: Response) -> dict[str, bool]:
    """The database and the broker answer."""
    resources: Resources = request.app.state.resources
    database = await resources.pool.fetchval("SELECT 1") == 1
    broker = not resources.connection.is_closed
    if not (database and broker):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {"database": database, "broker": broker}
