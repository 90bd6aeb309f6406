"""The outbox relay marks what it published, and only that."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from publishers.messages import TaskMessage
from publishers.publishing import Publishers
from services.relay import relay_once
from tests.support.database import new_session
from tests.support.settings import TENANT

pytestmark = pytest.mark.integration


class ConfirmsOnly:
    """Publishers that confirm the publishes of some tasks and fail every other."""

    def __init__(self, confirmed: set[uuid.UUID]) -> None:
        self.confirmed = confirmed
        self.sent: list[uuid.UUID] = []

    async def publish_task(self, message: TaskMessage) -> None:
        if message.id not in self.confirmed:
            raise TimeoutError("RabbitMQ did not confirm the publish")
        self.sent.append(message.id)


async def test_a_failed_publish_leaves_only_its_own_task_owed(migrated_database: Any) -> None:
    # Given three tasks recorded an hour ago and never published
    ids = [uuid.uuid4() for _ in range(3)]
    async with new_session() as session:
        await session.execute(
            text(
                "INSERT INTO tasks (id, name, status, tenant, created_at) "
                "SELECT id, 'echo', 'queued', :tenant, now() - interval '1 hour' "
                "FROM unnest(CAST(:ids AS uuid[])) AS id"
            ),
            {"ids": ids, "tenant": TENANT},
        )
        await session.commit()
    try:
        # When the relay sends them and the broker confirms two of the three
        publishers = ConfirmsOnly(confirmed=set(ids[:2]))
        async with new_session() as session:
            await relay_once(
                session=session, publishers=_as_publishers(publishers), grace=timedelta(0)
            )

        # Then those two are marked sent, the third is still owed a message
        async with new_session() as session:
            rows = await session.execute(
                text("SELECT id, published_at FROM tasks WHERE id = ANY(CAST(:ids AS uuid[]))"),
                {"ids": ids},
            )
            published = {row.id: row.published_at is not None for row in rows}
        assert sorted(publishers.sent) == sorted(ids[:2])
        assert published == {ids[0]: True, ids[1]: True, ids[2]: False}
    finally:
        async with new_session() as session:
            await session.execute(
                text("DELETE FROM tasks WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids}
            )
            await session.commit()


def _as_publishers(fake: ConfirmsOnly) -> Publishers:
    return fake  # type: ignore[return-value]
