"""Configuration from the environment and `.env`; every value has a local default."""

import re
from functools import lru_cache
from typing import Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator
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
    db_pass: SecretStr = SecretStr("")
    db_pool_size: int = Field(default=20, ge=1)
    # DB_HOST:DB_PORT is PgBouncer (or another pooler) in transaction pooling mode. There a
    # connection's next transaction may run on another server connection, which knows
    # nothing of the statements prepared under a name on the last one (and may hold another
    # client's of the same name): statements are then sent unnamed and parsed each time.
    db_pgbouncer: bool = False
    # Where PostgreSQL itself answers when DB_HOST:DB_PORT is a pooler (empty, 0: DB_HOST,
    # DB_PORT): the API's LISTEN connection, migrations and database creation connect here,
    # since a LISTEN outlives the transaction a pooler lends a server connection for.
    db_direct_host: str = ""
    db_direct_port: int = Field(default=0, ge=0, le=65535)

    rmq_host: str = "127.0.0.1"
    rmq_port: int = 5672
    # Several nodes of one cluster, `host[:port],…` (a port left out is RMQ_PORT); when set,
    # it replaces RMQ_HOST. Each process connects to a live one and moves on when it goes.
    rmq_hosts: str = ""
    rmq_user: str = "guest"
    rmq_password: SecretStr = SecretStr("guest")
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
    # Queue controls: how often each worker looks for held tasks its queue's controls now
    # let go (it also looks at once when a task of such a queue ends on it). A resume takes
    # effect within this long.
    queue_controls_interval_seconds: float = Field(default=0.25, gt=0, le=60)
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
    # Schedules (README: Schedules): every process looks this often for schedules whose
    # tick has come and makes their tasks; a tick is late by up to about this much.
    scheduler_interval_seconds: float = Field(default=1.0, gt=0, le=60)

    # Security (README: Security). Every endpoint but the probes and the documentation needs
    # an API key unless AUTH_ENABLED is false; requests whose Host is not listed are refused
    # (DNS rebinding). TASKGATE_SECRET signs every message; the API and the workers share it.
    auth_enabled: bool = True
    allowed_hosts: str = "localhost,127.0.0.1,[::1]"
    taskgate_secret: SecretStr = SecretStr("")

    # Limits on what clients send (README: Limits).
    max_request_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_payload_bytes: int = Field(default=256 * 1024, ge=64)
    max_payload_depth: int = Field(default=32, ge=1, le=200)
    max_attempts_limit: int = Field(default=100, ge=1)
    max_batch_size: int = Field(default=1000, ge=1, le=10_000)
    # Stored per task: error text and tracebacks are cut to these lengths, the history of
    # failed attempts keeps the most recent entries.
    max_error_chars: int = Field(default=4000, ge=100)
    max_traceback_chars: int = Field(default=16_000, ge=100)
    max_attempt_history: int = Field(default=50, ge=1)
    # Requests per second one key may make, and the burst it may save up (0: no limit).
    rate_limit_per_second: float = Field(default=1000.0, ge=0)
    rate_limit_burst: int = Field(default=2000, ge=1)
    # Tasks one tenant may have unfinished at once (0: no limit).
    tenant_max_unfinished: int = Field(default=1_000_000, ge=0)

    # Webhooks (README: Webhooks). A webhook may not target a loopback, private, link-local,
    # multicast, reserved or unspecified address (checked when it is made and again at each
    # send), or any API key could make Taskgate reach into its own network (SSRF): true
    # lifts that, for receivers on the same network (and the tests'). Each send waits
    # WEBHOOK_TIMEOUT_SECONDS for an answer; every process looks for due deliveries every
    # WEBHOOK_INTERVAL_SECONDS and sends up to WEBHOOK_CONCURRENCY at once (0: none).
    webhook_allow_private: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    webhook_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    webhook_concurrency: int = Field(default=16, ge=0, le=1000)

    # The dashboard (README: Dashboard): how long a login lasts, how often its live figures
    # refresh, the window of recent tasks they count, and the span of its throughput chart.
    dashboard_session_seconds: int = Field(default=8 * 3600, ge=60, le=30 * 24 * 3600)
    dashboard_refresh_seconds: float = Field(default=3.0, ge=0.5, le=300)
    dashboard_window_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    dashboard_chart_seconds: int = Field(default=300, ge=30, le=3600)

    # Progress (README: Progress): a task's progress is written at most once per this many
    # seconds (the latest report wins, the last one is written when the handler ends).
    progress_min_interval_seconds: float = Field(default=1.0, gt=0, le=3600)
    # Live events (README: Live events): each open stream reads its task every
    # SSE_POLL_SECONDS (and at once when it finishes); a process serves SSE_MAX_STREAMS at
    # once (503 beyond), each for SSE_MAX_SECONDS at most (the client then reconnects).
    sse_poll_seconds: float = Field(default=0.5, ge=0.05, le=30)
    sse_max_streams: int = Field(default=200, ge=1, le=100_000)
    sse_max_seconds: float = Field(default=3600.0, gt=0, le=24 * 3600)

    # Comma-separated modules whose @task_handler functions are loaded beside the built-ins.
    taskgate_handlers: str = ""
    # Comma-separated named queues clients may submit to, beside "default" and the queues
    # handlers name.
    taskgate_queues: str = ""
    # Comma-separated named queues a worker consumes; empty: every known queue.
    taskgate_worker_queues: str = ""

    # Observability (README: Observability). Logs: JSON lines unless stderr is a terminal
    # (`auto`), or as set. GET /metrics answers a bearer METRICS_TOKEN (open only with auth
    # off); each worker group serves its metrics on WORKER_METRICS_HOST:WORKER_METRICS_PORT
    # (0: not served). Traces follow the standard OTEL_* variables (off unless an OTLP
    # endpoint is set).
    log_format: Literal["auto", "json", "text"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    metrics_token: SecretStr = SecretStr("")
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)

    @field_validator("log_format", mode="before")
    @classmethod
    def lower_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def upper_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("worker_metrics_port", "db_direct_port", mode="before")
    @classmethod
    def empty_port_is_off(cls, value: object) -> object:
        return 0 if isinstance(value, str) and not value.strip() else value

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

    @field_validator("rmq_hosts")
    @classmethod
    def broker_addresses(cls, value: str) -> str:
        for address in _split(value):
            _host_and_port(address, default_port=1)
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
            password=self.db_pass.get_secret_value() or None,
            host=self.db_host,
            port=self.db_port,
            database=self.db_name,
        )

    @property
    def direct_database_address(self) -> tuple[str, int]:
        """Where PostgreSQL itself answers: DB_DIRECT_HOST:DB_DIRECT_PORT, each falling back
        to DB_HOST, DB_PORT; behind PgBouncer, one of them must be set."""
        if self.db_pgbouncer and not (self.db_direct_host or self.db_direct_port):
            # A LISTEN through PgBouncer runs, then hears nothing: long polls would answer
            # late, and the API would keep trusting keys revoked since.
            raise ConfigurationError(
                "DB_PGBOUNCER is true but neither DB_DIRECT_HOST nor DB_DIRECT_PORT is set: "
                "the API's LISTEN connection, migrations and database creation need "
                "PostgreSQL itself, not PgBouncer"
            )
        return self.db_direct_host or self.db_host, self.db_direct_port or self.db_port

    @property
    def direct_database_url(self) -> URL:
        """`database_url`, on PostgreSQL itself rather than a pooler in front of it."""
        host, port = self.direct_database_address
        return self.database_url.set(host=host, port=port)

    @property
    def rmq_addresses(self) -> list[tuple[str, int]]:
        """The RabbitMQ nodes to connect to: RMQ_HOSTS, else RMQ_HOST:RMQ_PORT."""
        listed = _split(self.rmq_hosts)
        if not listed:
            return [(self.rmq_host, self.rmq_port)]
        return [_host_and_port(address, default_port=self.rmq_port) for address in listed]

    @property
    def amqp_urls(self) -> list[str]:
        """An AMQP URL per RabbitMQ node, in the order given."""
        user = quote(self.rmq_user, safe="")
        password = quote(self.rmq_password.get_secret_value(), safe="")
        vhost = "" if self.rmq_vhost == "/" else quote(self.rmq_vhost, safe="")
        return [
            f"amqp://{user}:{password}@{_url_host(host)}:{port}/{vhost}"
            for host, port in self.rmq_addresses
        ]

    @property
    def amqp_url(self) -> str:
        """AMQP URL of the first RabbitMQ node."""
        return self.amqp_urls[0]

    @property
    def hosts_allowed(self) -> list[str]:
        """Host header values listed in ALLOWED_HOSTS (`*`: any)."""
        return [host.lower() for host in _split(self.allowed_hosts)]

    @property
    def message_secret(self) -> bytes:
        """The key that signs messages (the API and the workers ask for it at start).
        Without auth and without TASKGATE_SECRET, a fixed development key: good for a local
        instance, never for a shared broker."""
        secret = self.taskgate_secret.get_secret_value()
        if secret:
            if len(secret) < MIN_SECRET_CHARS:
                raise ConfigurationError(
                    f"TASKGATE_SECRET is too short: use at least {MIN_SECRET_CHARS} characters"
                )
            return secret.encode()
        if self.auth_enabled:
            raise ConfigurationError(
                "TASKGATE_SECRET is not set: with AUTH_ENABLED=true the API and the workers "
                f"need the same secret of at least {MIN_SECRET_CHARS} characters to sign and "
                "check messages (local development without auth: AUTH_ENABLED=false)"
            )
        return DEVELOPMENT_SECRET.encode()


# Signs messages when auth is off and no TASKGATE_SECRET is given (local development).
DEVELOPMENT_SECRET = "taskgate-development-secret-not-for-production"
MIN_SECRET_CHARS = 16


class ConfigurationError(Exception):
    """A setting that keeps Taskgate from starting; the message says which and what to do."""


def _split(listed: str) -> list[str]:
    return [name.strip() for name in listed.split(",") if name.strip()]


def _host_and_port(address: str, *, default_port: int) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]` or `[v6]:port`."""
    host, port = address, str(default_port)
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        if rest:
            port = rest.removeprefix(":") if rest.startswith(":") else ""
    elif ":" in address:
        host, _, port = address.rpartition(":")
    if not host or ":" in host and not address.startswith("[") or not port.isdigit():
        raise ValueError(
            f"broker address {address!r}: use host or host:port, e.g. rabbit1:5672 "
            "(IPv6 in brackets: [::1]:5672)"
        )
    if not 1 <= int(port) <= 65535:
        raise ValueError(f"broker address {address!r}: the port must be 1-65535")
    return host, int(port)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
