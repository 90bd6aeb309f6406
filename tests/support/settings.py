"""The settings every test runs with: a database and broker names of their own, so a test
run never touches a running Taskgate's data or queues."""

import os

from config.settings import Settings

# Two test runs on one machine stay apart when each sets its own database and names, and
# so do the processes of one run (pytest-xdist's gw0, gw1, …).
_RUNNER = os.environ.get("PYTEST_XDIST_WORKER", "")
TEST_DB = os.environ.get("TASKGATE_TEST_DB", "taskgate_test") + (f"_{_RUNNER}" if _RUNNER else "")
TEST_PREFIX = os.environ.get("TASKGATE_TEST_PREFIX", "taskgate-test") + (
    f"-{_RUNNER}" if _RUNNER else ""
)

# Field names and values; API and worker processes the tests start get them as
# environment variables (TEST_ENV).
OVERRIDES = {
    "db_name": TEST_DB,
    "rmq_queue_exchange": TEST_PREFIX,
    "rmq_queue_name": f"{TEST_PREFIX}.tasks",
    "rmq_queue_dead_letter_exchange": f"{TEST_PREFIX}.dlx",
    "rmq_queue_dead_letter_name": f"{TEST_PREFIX}.dead-letter",
    # The handlers the tests run beside the built-ins.
    "taskgate_handlers": "tests.chaos.handlers",
    # Workers consume the default queue unless a test starts one for another queue.
    "taskgate_worker_queues": "default",
    # Auth on, as users run it; the in-process API answers to the test client's host.
    "auth_enabled": "true",
    "taskgate_secret": "taskgate-test-secret-0123456789",
    "allowed_hosts": "localhost,127.0.0.1,[::1],taskgate.test",
    # Far above what any test but the rate-limit ones sends (those set their own).
    "rate_limit_per_second": "100000",
    "rate_limit_burst": "200000",
    # The dashboard's live figures refresh every second, so the browser tests wait less.
    "dashboard_refresh_seconds": "1",
    # Tests run side by side, each starting API and worker processes: small pools keep all
    # of them within PostgreSQL's default 100 connections.
    "db_pool_size": "4",
    # The webhook tests' receivers listen on 127.0.0.1, and a retry is due a second after a
    # failure: senders look for due deliveries often.
    "webhook_allow_private": "true",
    "webhook_interval_seconds": "0.2",
}
TEST_ENV = {name.upper(): value for name, value in OVERRIDES.items()}


def settings_with(**changes: object) -> Settings:
    """The tests' settings, with `changes` on top."""
    return Settings(**{**OVERRIDES, **changes})  # type: ignore[arg-type]


SETTINGS = settings_with()

# The key most tests send: an admin of tenant "acme" (made in the test database by the
# migrated_database fixture; its secret is no secret).
TENANT = "acme"
ADMIN_KEY_PREFIX = "0000000000ac"
ADMIN_KEY = f"tg_{ADMIN_KEY_PREFIX}_test-admin-key-of-acme"
AUTH_HEADERS = {"Authorization": f"Bearer {ADMIN_KEY}"}

# An operator's key (every tenant, admin): what the records of messages no task stands
# behind (tenant "") are seen with.
OPERATOR_KEY_PREFIX = "00000000000f"
OPERATOR_KEY = f"tg_{OPERATOR_KEY_PREFIX}_test-operator-key"
OPERATOR_HEADERS = {"Authorization": f"Bearer {OPERATOR_KEY}"}
