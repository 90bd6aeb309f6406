"""The Docker Compose stack, the Makefile and the CI entry point, read as files."""

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("migrate", "api", "worker")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _command(service: dict[str, Any]) -> str:
    command = service["command"]
    return command if isinstance(command, str) else " ".join(command)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    environment = service["environment"]
    if isinstance(environment, list):
        return dict(item.split("=", 1) for item in environment)
    return {name: str(value) for name, value in environment.items()}


def _condition(service: dict[str, Any], dependency: str) -> str:
    return service["depends_on"][dependency]["condition"]


def test_compose_defines_every_service(services: dict[str, Any]) -> None:
    assert set(services) >= {"rabbitmq", "postgres", "migrate", "api", "worker"}


def test_compose_rabbitmq_uses_a_management_image(services: dict[str, Any]) -> None:
    assert services["rabbitmq"]["image"].endswith("-management")


@pytest.mark.parametrize("name", ["rabbitmq", "postgres", "api"])
def test_compose_long_running_dependency_has_a_healthcheck(
    services: dict[str, Any], name: str
) -> None:
    assert services[name]["healthcheck"]["test"]


def test_compose_app_services_set_only_known_settings(services: dict[str, Any]) -> None:
    known = {field.upper() for field in Settings.model_fields}
    for name in APP_SERVICES:
        unknown = set(_environment(services[name])) - known
        assert not unknown, f"{name} sets {sorted(unknown)}, which Settings does not read"


def test_compose_app_services_reach_the_compose_postgres_and_rabbitmq(
    services: dict[str, Any],
) -> None:
    for name in APP_SERVICES:
        environment = _environment(services[name])
        assert environment["DB_HOST"] == "postgres"
        assert environment["RMQ_HOST"] == "rabbitmq"
        assert "postgres" in services and "rabbitmq" in services


def test_compose_worker_runs_faststream(services: dict[str, Any]) -> None:
    command = _command(services["worker"])
    assert command.startswith("faststream run")
    assert {"--factory", "subscribers.worker:create_app"} <= set(command.split())


def test_compose_migrate_upgrades_to_head(services: dict[str, Any]) -> None:
    assert _command(services["migrate"]) == "alembic upgrade head"
    assert _condition(services["migrate"], "postgres") == "service_healthy"


@pytest.mark.parametrize("name", ["api", "worker"])
def test_compose_app_waits_for_migrations_and_its_broker_user(
    services: dict[str, Any], name: str
) -> None:
    service = services[name]
    assert _condition(service, "migrate") == "service_completed_successfully"
    assert _condition(service, "rabbitmq-users") == "service_completed_successfully"
    assert _condition(services["rabbitmq-users"], "rabbitmq") == "service_healthy"


def test_compose_runs_with_auth_on_and_a_secret_from_the_environment(
    services: dict[str, Any],
) -> None:
    for name in APP_SERVICES:
        environment = _environment(services[name])
        assert environment["AUTH_ENABLED"] == "true", name
        assert environment["TASKGATE_SECRET"].startswith("${TASKGATE_SECRET:?"), name


def test_compose_gives_api_and_workers_broker_users_of_their_own_and_no_guest(
    services: dict[str, Any],
) -> None:
    api, worker = _environment(services["api"]), _environment(services["worker"])
    assert api["RMQ_USER"] != worker["RMQ_USER"]
    assert "guest" not in _strings(services)
    users = services["rabbitmq-users"]["environment"]
    assert {users["TASKGATE_API_RMQ_USER"], users["TASKGATE_WORKER_RMQ_USER"]} == {
        api["RMQ_USER"],
        worker["RMQ_USER"],
    }
    # The API may read no queue: its read permission names the exchanges only
    script = (ROOT / "deploy" / "rabbitmq" / "users.sh").read_text()
    assert 'read\\": \\"$exchanges' in script


def _strings(value: Any) -> set[str]:
    """Every string in a parsed YAML document."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return {s for item in value.values() for s in _strings(item)} | set(map(str, value))
    if isinstance(value, list):
        return {s for item in value for s in _strings(item)}
    return set()


def test_compose_postgres_has_a_password_and_the_app_is_no_superuser(
    services: dict[str, Any],
) -> None:
    postgres = services["postgres"]["environment"]
    assert "POSTGRES_HOST_AUTH_METHOD" not in postgres
    assert postgres["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    init = (ROOT / "deploy" / "postgres" / "init-taskgate.sh").read_text()
    assert "NOSUPERUSER" in init
    for name in APP_SERVICES:
        environment = _environment(services[name])
        assert environment["DB_USER"] == postgres["TASKGATE_DB_USER"] != "postgres"
        assert environment["DB_PASS"].startswith("${TASKGATE_DB_PASSWORD:?")


def test_compose_declares_named_volumes(compose: dict[str, Any]) -> None:
    assert set(compose["volumes"]) >= {"pgdata", "rabbitmq-data"}


@pytest.mark.parametrize(
    "target",
    ["help", "run", "api", "worker", "migrate", "test", "lint", "docs", "up", "down"],
)
def test_makefile_has_target(target: str) -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^{target}:", makefile, re.MULTILINE), f"no `{target}` target"


def test_makefile_default_goal_is_help() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^\.DEFAULT_GOAL := help$", makefile, re.MULTILINE)


def test_ci_entry_point_runs_make_test() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    commands = [line.strip() for line in script.splitlines() if not line.startswith("#")]
    assert "make test" in commands


def test_the_image_copies_every_package_the_project_installs() -> None:
    # Given the packages pyproject.toml installs, and the Dockerfile's COPY lines
    with (ROOT / "pyproject.toml").open("rb") as source:
        include = tomllib.load(source)["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in include}
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (ROOT / "Dockerfile").read_text(), re.M))

    # Then the image holds every one of them
    assert packages <= copied, packages - copied
