"""The Docker Compose stack, the Makefile and the CI entry point, read as files."""

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from faststream.rabbit.prometheus import RabbitPrometheusMiddleware
from prometheus_client import REGISTRY, CollectorRegistry

from config.settings import Settings
from services.observability.state_gauges import StateGauges
from tests.support import compose_file
from tests.support.metrics import dashboard_metric_names, dashboard_queries

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
        unknown = set(compose_file.environment(services[name])) - known
        assert not unknown, f"{name} sets {sorted(unknown)}, which Settings does not read"


def test_compose_app_services_reach_the_compose_postgres_and_rabbitmq(
    services: dict[str, Any],
) -> None:
    for name in APP_SERVICES:
        environment = compose_file.environment(services[name])
        assert environment["DB_HOST"] == "postgres"
        assert environment["RMQ_HOST"] == "rabbitmq"
        assert "postgres" in services and "rabbitmq" in services


def test_compose_worker_runs_faststream(services: dict[str, Any]) -> None:
    command = _command(services["worker"])
    assert command.startswith("faststream run")
    assert {"--factory", "subscribers.worker:create_app"} <= set(command.split())


def test_compose_migrate_upgrades_to_head(services: dict[str, Any]) -> None:
    assert _command(services["migrate"]) == "alembic upgrade head"
    assert compose_file.condition(services["migrate"], "postgres") == "service_healthy"


@pytest.mark.parametrize("name", ["api", "worker"])
def test_compose_app_waits_for_migrations_and_its_broker_user(
    services: dict[str, Any], name: str
) -> None:
    service = services[name]
    assert compose_file.condition(service, "migrate") == "service_completed_successfully"
    assert compose_file.condition(service, "rabbitmq-users") == "service_completed_successfully"
    assert compose_file.condition(services["rabbitmq-users"], "rabbitmq") == "service_healthy"


def test_compose_runs_with_auth_on_and_a_secret_from_the_environment(
    services: dict[str, Any],
) -> None:
    for name in APP_SERVICES:
        environment = compose_file.environment(services[name])
        assert environment["AUTH_ENABLED"] == "true", name
        assert environment["TASKGATE_SECRET"].startswith("${TASKGATE_SECRET:?"), name


def test_compose_gives_api_and_workers_broker_users_of_their_own_and_no_guest(
    services: dict[str, Any],
) -> None:
    api, worker = (
        compose_file.environment(services["api"]),
        compose_file.environment(services["worker"]),
    )
    assert api["RMQ_USER"] != worker["RMQ_USER"]
    assert "guest" not in compose_file.strings(services)
    users = services["rabbitmq-users"]["environment"]
    assert {users["TASKGATE_API_RMQ_USER"], users["TASKGATE_WORKER_RMQ_USER"]} == {
        api["RMQ_USER"],
        worker["RMQ_USER"],
    }
    # The API may read no queue: its read permission names the exchanges only
    script = (ROOT / "deploy" / "rabbitmq" / "users.sh").read_text()
    assert 'read\\": \\"$exchanges' in script


def test_compose_postgres_has_a_password_and_the_app_is_no_superuser(
    services: dict[str, Any],
) -> None:
    postgres = services["postgres"]["environment"]
    assert "POSTGRES_HOST_AUTH_METHOD" not in postgres
    assert postgres["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    init = (ROOT / "deploy" / "postgres" / "init-taskgate.sh").read_text()
    assert "NOSUPERUSER" in init
    for name in APP_SERVICES:
        environment = compose_file.environment(services[name])
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


# Metrics: Prometheus and Grafana beside Taskgate.

DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="module")
def prometheus_jobs() -> dict[str, Any]:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    return {job["job_name"]: job for job in config["scrape_configs"]}


def _port_of(command: str) -> int:
    return int(command.split("--port", 1)[1].split()[0])


def test_compose_runs_prometheus_and_grafana_on_pinned_images(services: dict[str, Any]) -> None:
    for name in ("prometheus", "grafana"):
        image = services[name]["image"]
        assert ":" in image and not image.endswith(":latest"), image


@pytest.mark.parametrize("name", ["prometheus", "grafana"])
def test_compose_mounts_observability_files_that_exist(services: dict[str, Any], name: str) -> None:
    mounts = compose_file.mounts(services[name])
    assert mounts, name
    for host in mounts.values():
        assert (ROOT / host).exists(), host


def test_prometheus_scrapes_the_api_where_it_listens(
    services: dict[str, Any], prometheus_jobs: dict[str, Any]
) -> None:
    job = prometheus_jobs["taskgate-api"]
    (target,) = [t for config in job["static_configs"] for t in config["targets"]]
    host, port = target.split(":")
    assert host == "api" and int(port) == _port_of(_command(services["api"]))
    assert job["metrics_path"] == "/metrics"
    # The API answers the Host Prometheus sends.
    assert host in compose_file.environment(services["api"])["ALLOWED_HOSTS"].split(",")


def test_prometheus_scrapes_every_worker_container_on_its_metrics_port(
    services: dict[str, Any], prometheus_jobs: dict[str, Any]
) -> None:
    (discovery,) = prometheus_jobs["taskgate-worker"]["dns_sd_configs"]
    worker = compose_file.environment(services["worker"])
    assert discovery["names"] == ["worker"]
    assert discovery["port"] == int(worker["WORKER_METRICS_PORT"]) > 0
    assert worker["WORKER_METRICS_HOST"] == "0.0.0.0"
    # The port stays on the compose network.
    assert "ports" not in services["worker"]


def test_prometheus_presents_the_metrics_token_the_api_expects(
    compose: dict[str, Any], services: dict[str, Any], prometheus_jobs: dict[str, Any]
) -> None:
    assert compose_file.environment(services["api"])["METRICS_TOKEN"].startswith(
        "${METRICS_TOKEN:?"
    )
    assert compose["secrets"]["metrics-token"] == {"environment": "METRICS_TOKEN"}
    assert "metrics-token" in services["prometheus"]["secrets"]
    authorization = prometheus_jobs["taskgate-api"]["authorization"]
    assert authorization["credentials_file"] == "/run/secrets/metrics-token"
    assert "/etc/prometheus/prometheus.yml" in compose_file.mounts(services["prometheus"])


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard(
    services: dict[str, Any],
) -> None:
    grafana = services["grafana"]
    mounts = compose_file.mounts(grafana)
    provisioning = ROOT / mounts["/etc/grafana/provisioning"]
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["url"] == "http://prometheus:9090" and source["type"] == "prometheus"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "taskgate.yml").read_text())[
        "providers"
    ]
    dashboards = ROOT / mounts[provider["options"]["path"]]
    dashboard = json.loads((dashboards / "taskgate.json").read_text())
    assert dashboard["panels"]
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == source["uid"], panel["title"]
    assert compose_file.environment(grafana)["GF_SECURITY_ADMIN_PASSWORD"].startswith(
        "${GRAFANA_ADMIN_PASSWORD:?"
    )


def test_the_dashboard_shows_throughput_failures_queues_backlog_and_latency() -> None:
    names = dashboard_metric_names()
    assert {
        "taskgate_tasks_submitted_total",
        "taskgate_worker_tasks_succeeded_total",
        "taskgate_worker_tasks_dead_total",
        "taskgate_queue_messages_ready",
        "taskgate_outbox_unpublished_tasks",
        "taskgate_http_request_duration_seconds_bucket",
    } <= names
    assert any("histogram_quantile(0.99" in query for query in dashboard_queries())


def _defined_sample_names() -> set[str]:
    """Every sample name Taskgate's code defines: its own metrics, FastStream's, and the
    gauges read at scrape time."""
    import app.http_metrics  # noqa: F401
    import services.observability.metrics  # noqa: F401
    import subscribers.task_metrics  # noqa: F401

    faststream = CollectorRegistry()
    RabbitPrometheusMiddleware(registry=faststream)
    gauges = CollectorRegistry()
    gauges.register(StateGauges(database=None, publishers=None, queues=[]))  # type: ignore[arg-type]
    return {
        name
        for registry in (REGISTRY, faststream, gauges)
        for name in registry._names_to_collectors
    }


def test_the_dashboard_queries_only_metrics_taskgate_defines() -> None:
    missing = dashboard_metric_names() - _defined_sample_names()
    assert not missing, missing
