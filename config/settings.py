"""Configuration from the environment and `.env`; every value has a local default."""

import re
from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import URL

from config import names


class Settings(BaseSettings):
    """Taskgate settings; variable names are the field names in upper case."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    db_host: str = "127.0.0.1"
    db_port: int = 5432
    db_name: str = "taskgate"
    db_user: str = "postgres"
    db_pass: str = ""
    db_pool_size: int = Field(default=20, ge=1)

    rmq_host: str = "127.0.0.1"
    rmq_port: int = 5672
    rmq_user: str = "guest"
    rmq_password: str = "guest"
    rmq_vhost: str = "/"

    rmq_queue_exchange: str = names.DEFAULT_EXCHANGE
    rmq_queue_routing_key: str = names.DEFAULT_ROUTING_KEY
    rmq_queue_name: str = names.DEFAULT_QUEUE
    rmq_queue_dead_letter_exchange: str = names.DEFAULT_DEAD_LETTER_EXCHANGE
    rmq_queue_routing_key_dead_letter: str = names.DEFAULT_DEAD_LETTER_ROUTING_KEY
    rmq_queue_dead_letter_name: str = names.DEFAULT_DEAD_LETTER_QUEUE

    # Tasks a worker process runs at once, and messages each of its band consumers may hold
    # (one may carry up to 100 tasks); see README: "Scaling workers".
    worker_concurrency: int = Field(default=256, ge=1, le=10_000)
    worker_prefetch: int = Field(default=16, ge=1, le=1000)

    # A running task's lease: renewed by its worker every third of it; once it lapses (the
    # worker died), another worker takes the task over.
    task_lease_seconds: float = Field(default=30.0, gt=0)
    # On SIGTERM a worker stops taking messages and gives in-flight tasks this long to end.
    worker_grace_seconds: float = Field(default=30.0, ge=0)
    # The outbox relay: how often it looks for tasks that are owed a message, and how old
    # such a task must be (younger ones are still being published by the API).
    outbox_interval_seconds: float = Field(default=1.0, gt=0)
    outbox_grace_seconds: float = Field(default=5.0, ge=0)
    # How long the API waits for the broker to confirm a publish before leaving the task to
    # the relay (the task is already recorded either way).
    publish_timeout_seconds: float = Field(default=3.0, gt=0)

    # Retention: finished tasks are deleted this long after they finished (0: kept forever),
    # by a sweep every process runs every RETENTION_INTERVAL_SECONDS, RETENTION_BATCH_SIZE
    # rows per transaction.
    retention_succeeded_seconds: int = Field(default=7 * 24 * 3600, ge=0)
    retention_dead_seconds: int = Field(default=30 * 24 * 3600, ge=0)
    retention_interval_seconds: float = Field(default=60.0, gt=0)
    retention_batch_size: int = Field(default=1000, ge=1, le=100_000)

    # Comma-separated modules whose @task_handler functions are loaded beside the built-ins.
    taskgate_handlers: str = ""
    # Comma-separated named queues clients may submit to, beside "default" and the queues
    # handlers name.
    taskgate_queues: str = ""
    # Comma-separated named queues a worker consumes; empty: every known queue.
    taskgate_worker_queues: str = ""

    @field_validator("taskgate_queues", "taskgate_worker_queues")
    @classmethod
    def queue_names(cls, value: str) -> str:
        for name in _split(value):
            if not re.fullmatch(names.QUEUE_NAME_PATTERN, name):
                raise ValueError(
                    f"queue name {name!r}: use 1-63 of a-z, 0-9, '_' and '-', "
                    "starting with a letter or digit"
                )
        return value

    @property
    def handler_modules(self) -> list[str]:
        """Module names listed in TASKGATE_HANDLERS."""
        return _split(self.taskgate_handlers)

    @property
    def extra_queues(self) -> list[str]:
        """Queue names listed in TASKGATE_QUEUES."""
        return _split(self.taskgate_queues)

    @property
    def worker_queues(self) -> list[str]:
        """Queue names listed in TASKGATE_WORKER_QUEUES (empty: all)."""
        return _split(self.taskgate_worker_queues)

    @property
    def database_url(self) -> URL:
        """SQLAlchemy URL of the task database (asyncpg driver)."""
        return URL.create(
            "postgresql+asyncpg",
            username=self.db_user,
            password=self.db_pass or None,
            host=self.db_host,
            port=self.db_port,
            database=self.db_name,
        )

    @property
    def amqp_url(self) -> str:
        """AMQP URL of the RabbitMQ broker."""
        vhost = "" if self.rmq_vhost == "/" else self.rmq_vhost
        return f"amqp://{self.rmq_user}:{self.rmq_password}@{self.rmq_host}:{self.rmq_port}/{vhost}"


def _split(listed: str) -> list[str]:
    return [name.strip() for name in listed.split(",") if name.strip()]


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
