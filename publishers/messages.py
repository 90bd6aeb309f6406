"""Message contracts: what travels over RabbitMQ."""

from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field


class TaskMessage(BaseModel):
    """A task to run: published by the API, consumed by the workers."""

    id: UUID = Field(description="The task's id; its row in PostgreSQL holds its state.")
    name: str = Field(description="The registered handler that runs the task.")
    payload: dict[str, Any] = Field(default_factory=dict, description="The handler's input.")
