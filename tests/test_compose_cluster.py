"""compose.cluster.yaml (a RabbitMQ cluster, PgBouncer, API replicas behind a load
balancer, a worker fleet), read as files."""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.settings import Settings
from tests.support import compose_file

ROOT = Path(__file__).resolve().parent.parent
RABBIT_NODES = ("rabbitmq1", "rabbitmq2", "rabbitmq3")
APIS = ("api1", "api2")
APP_SERVICES = ("migrate", *APIS, "worker")
SECRET_WORDS = ("PASS", "PASSWORD", "SECRET", "COOKIE", "TOKEN")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.cluster.yaml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _rabbitmq_conf(service: dict[str, Any]) -> str:
    return (ROOT / compose_file.mounts(service)["/etc/rabbitmq/rabbitmq.conf"]).read_text()


def test_every_service_has_an_image_or_a_build(services: dict[str, Any]) -> None:
    assert set(services) >= {*RABBIT_NODES, "postgres", "pgbouncer", "lb", *APP_SERVICES}
    for name, service in services.items():
        assert service.get("image") or service.get("build"), name
        image = service.get("image", "pinned:tag")
        assert ":" in image and not image.endswith(":latest"), (name, image)


def test_every_mounted_file_exists(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for host in compose_file.mounts(service).values():
            assert (ROOT / host).is_file(), (name, host)


def test_the_rabbitmq_nodes_share_a_cookie_and_each_has_its_own_name_and_volume(
    services: dict[str, Any],
) -> None:
    nodes = [services[name] for name in RABBIT_NODES]
    cookies = {compose_file.environment(node)["RABBITMQ_ERLANG_COOKIE"] for node in nodes}
    assert len(cookies) == 1 and cookies.pop().startswith("${RABBITMQ_ERLANG_COOKIE:?")
    assert [node["hostname"] for node in nodes] == list(RABBIT_NODES)
    data = [v for node in nodes for v in node["volumes"] if v.endswith(":/var/lib/rabbitmq")]
    assert len(set(data)) == 3


def test_each_rabbitmq_node_lists_all_three_in_its_classic_config(
    services: dict[str, Any],
) -> None:
    for name in RABBIT_NODES:
        conf = _rabbitmq_conf(services[name])
        backend = re.search(r"^cluster_formation\.peer_discovery_backend = (\S+)$", conf, re.M)
        assert backend is not None and backend.group(1) == "classic_config", name
        listed = re.findall(r"^cluster_formation\.classic_config\.nodes\.\d+ = (\S+)$", conf, re.M)
        assert sorted(listed) == [f"rabbit@{node}" for node in RABBIT_NODES], name


def test_the_rabbitmq_nodes_join_the_first_and_are_health_checked(
    services: dict[str, Any],
) -> None:
    for name in RABBIT_NODES:
        assert services[name]["healthcheck"]["test"], name
    for name in RABBIT_NODES[1:]:
        assert compose_file.condition(services[name], "rabbitmq1") == "service_healthy"
    for name in RABBIT_NODES:
        assert compose_file.condition(services["rabbitmq-users"], name) == "service_healthy"
    users = compose_file.environment(services["rabbitmq-users"])
    assert users["RABBITMQ_MANAGEMENT_URL"].split("//")[1].split(":")[0] in RABBIT_NODES
    script = (ROOT / "deploy" / "rabbitmq" / "users.sh").read_text()
    assert "${RABBITMQ_MANAGEMENT_URL:-" in script


def test_apis_and_workers_know_every_rabbitmq_node(services: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        environment = compose_file.environment(services[name])
        hosts = [address.split(":")[0] for address in environment["RMQ_HOSTS"].split(",")]
        assert sorted(hosts) == list(RABBIT_NODES), name
        assert "RMQ_HOST" not in environment, name
    assert Settings(
        rmq_hosts=compose_file.environment(services["api1"])["RMQ_HOSTS"]
    ).rmq_addresses == [(node, 5672) for node in RABBIT_NODES]


def test_apis_and_workers_go_through_pgbouncer_in_transaction_pooling(
    services: dict[str, Any],
) -> None:
    pgbouncer = services["pgbouncer"]
    assert compose_file.environment(pgbouncer)["POOL_MODE"] == "transaction"
    assert compose_file.environment(pgbouncer)["DB_HOST"] == "postgres"
    assert compose_file.condition(pgbouncer, "postgres") == "service_healthy"
    assert pgbouncer["healthcheck"]["test"]
    for name in (*APIS, "worker"):
        environment = compose_file.environment(services[name])
        assert environment["DB_HOST"] == "pgbouncer", name
        assert environment["DB_PORT"] == compose_file.environment(pgbouncer)["LISTEN_PORT"], name
        assert environment["DB_PGBOUNCER"] == "true", name
        # The API's LISTEN (and the migrations) need PostgreSQL itself.
        assert environment["DB_DIRECT_HOST"] == "postgres", name
        assert compose_file.condition(services[name], "pgbouncer") == "service_healthy", name


def test_app_services_set_only_known_settings(services: dict[str, Any]) -> None:
    known = {field.upper() for field in Settings.model_fields}
    for name in APP_SERVICES:
        unknown = set(compose_file.environment(services[name])) - known
        assert not unknown, f"{name} sets {sorted(unknown)}, which Settings does not read"


def test_apis_and_workers_wait_for_migrations_and_their_broker_users(
    services: dict[str, Any],
) -> None:
    assert compose_file.condition(services["migrate"], "postgres") == "service_healthy"
    for name in (*APIS, "worker"):
        assert compose_file.condition(services[name], "migrate") == "service_completed_successfully"
        assert (
            compose_file.condition(services[name], "rabbitmq-users")
            == "service_completed_successfully"
        )


def test_the_load_balancer_sends_to_both_api_replicas_once_they_are_healthy(
    services: dict[str, Any],
) -> None:
    lb = services["lb"]
    conf = (ROOT / compose_file.mounts(lb)["/etc/nginx/conf.d/default.conf"]).read_text()
    upstream = re.search(r"upstream (\w+) \{(.*?)\}", conf, re.S)
    assert upstream is not None
    servers = re.findall(r"^\s*server (\S+?):(\d+)", upstream.group(2), re.M)
    assert sorted(host for host, _ in servers) == list(APIS)
    assert {int(port) for _, port in servers} == {8000}
    assert f"proxy_pass http://{upstream.group(1)};" in conf
    for name in APIS:
        assert services[name]["healthcheck"]["test"], name
        assert compose_file.condition(lb, name) == "service_healthy"
        assert "ports" not in services[name], name
    assert lb["ports"] == ["127.0.0.1:8000:8000"]
    # The API answers the Host a client of the load balancer sends.
    allowed = compose_file.environment(services["api1"])["ALLOWED_HOSTS"].split(",")
    assert {"localhost", "lb"} <= set(allowed)


def test_there_is_a_fleet_of_workers_running_faststream(services: dict[str, Any]) -> None:
    worker = services["worker"]
    command = " ".join(worker["command"])
    assert command.startswith("faststream run --factory subscribers.worker:create_app")
    assert worker["deploy"]["replicas"] >= 2


def test_auth_is_on_and_every_secret_comes_from_the_environment(
    services: dict[str, Any],
) -> None:
    for name in APP_SERVICES:
        assert compose_file.environment(services[name])["AUTH_ENABLED"] == "true", name
    for name, service in services.items():
        for variable, value in compose_file.environment(service).items():
            if any(word in variable for word in SECRET_WORDS) and not variable.endswith("_USER"):
                assert value.startswith(f"${{{_source(value)}:?"), (name, variable)
    assert not any("guest" in text for text in compose_file.strings(services))


def _source(value: str) -> str:
    """The variable a `${NAME:?…}` value is read from."""
    return value.removeprefix("${").split(":", 1)[0]


def test_every_published_port_is_on_loopback(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)


def test_every_secret_it_reads_is_in_the_env_example(compose: dict[str, Any]) -> None:
    text = (ROOT / "compose.cluster.yaml").read_text()
    needed = set(re.findall(r"\$\{(\w+):\?", text))
    example = (ROOT / ".env.example").read_text()
    offered = set(re.findall(r"^(\w+)=", example, re.M))
    assert needed <= offered, needed - offered


def test_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, Any]) -> None:
    used = {
        volume.split(":")[0]
        for service in services.values()
        for volume in service.get("volumes", [])
        if not volume.startswith("./")
    }
    assert used == set(compose["volumes"])
