"""The settings every test runs with: a database and broker names of their own, so a test
run never touches a running Taskgate's data or queues."""

from config.settings import Settings

TEST_PREFIX = "taskgate-test"

# Field names and values; API and worker processes the tests start get them as
# environment variables (TEST_ENV).
OVERRIDES = {
    "db_name": "taskgate_test",
    "rmq_queue_exchange": TEST_PREFIX,
    "rmq_queue_name": f"{TEST_PREFIX}.tasks",
    "rmq_queue_dead_letter_exchange": f"{TEST_PREFIX}.dlx",
    "rmq_queue_dead_letter_name": f"{TEST_PREFIX}.dead-letter",
    # The handlers the tests run beside the built-ins.
    "taskgate_handlers": "tests.chaos.handlers",
    # Workers consume the default queue unless a test starts one for another queue.
    "taskgate_worker_queues": "default",
}
TEST_ENV = {name.upper(): value for name, value in OVERRIDES.items()}


def settings_with(**changes: object) -> Settings:
    """The tests' settings, with `changes` on top."""
    return Settings(**{**OVERRIDES, **changes})  # type: ignore[arg-type]


SETTINGS = settings_with()
