"""A RabbitMQ cluster of three nodes of its own, beside the machine's node (left alone).

Each node has its own name (`tgc1@localhost`…), AMQP port (5681…), distribution port and
data and log directories in a temporary directory owned by the `rabbitmq` user, and uses
the machine's Erlang cookie; nodes 2 and 3 join node 1. Everything runs as the `rabbitmq`
user, and everything is removed afterwards, also after a failure.
"""

import contextlib
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

RABBIT_USER = "rabbitmq"
FIRST_AMQP_PORT = 5681
DIST_PORT_OFFSET = 20000  # 5681 → 25681
START_TIMEOUT = 90


def unavailable_reason() -> str | None:
    """Why this machine cannot run the cluster (None: it can)."""
    if shutil.which("rabbitmq-server") is None or shutil.which("rabbitmqctl") is None:
        return "RabbitMQ's server is not installed (Debian package rabbitmq-server)"
    try:
        pwd.getpwnam(RABBIT_USER)
    except KeyError:
        return f"there is no {RABBIT_USER!r} user to run the nodes as"
    if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != RABBIT_USER:
        return f"running the nodes as {RABBIT_USER!r} needs root"
    return None


@dataclass
class Node:
    number: int
    base: Path

    @property
    def name(self) -> str:
        return f"tgc{self.number}@localhost"

    @property
    def port(self) -> int:
        return FIRST_AMQP_PORT + self.number - 1

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def home(self) -> Path:
        return self.base / f"tgc{self.number}"

    def environment(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": pwd.getpwnam(RABBIT_USER).pw_dir,  # where the machine's cookie is
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.port + DIST_PORT_OFFSET),
            "RABBITMQ_MNESIA_BASE": str(self.home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.home / "log"),
            "RABBITMQ_PID_FILE": str(self.home / "pid"),
            "RABBITMQ_CONFIG_FILE": str(self.home / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.home / "enabled_plugins"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }


@dataclass
class Cluster:
    """Three nodes; `ctl(node, …)` runs rabbitmqctl against one of them."""

    base: Path
    nodes: list[Node] = field(default_factory=list)
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def hosts(self) -> str:
        """RMQ_HOSTS for every node."""
        return ",".join(node.address for node in self.nodes)

    def ctl(self, node: Node, *args: str, timeout: float = 60) -> str:
        result = subprocess.run(
            ["runuser", "-u", RABBIT_USER, "--", "rabbitmqctl", "-n", node.name, "-q", *args],
            env=node.environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} on {node.name}: {result.stderr}")
        return result.stdout

    def start(self) -> None:
        for node in self.nodes:
            (node.home / "log").mkdir(parents=True)
            (node.home / "enabled_plugins").write_text("[].\n")
        _chown(self.base)
        for node in self.nodes:
            with (node.home / "server.out").open("wb") as log:
                self.servers.append(
                    subprocess.Popen(
                        ["runuser", "-u", RABBIT_USER, "--", "rabbitmq-server"],
                        env=node.environment(),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        for node in self.nodes:
            self.await_running(node)
        first = self.nodes[0]
        for node in self.nodes[1:]:
            self.ctl(node, "stop_app")
            self.ctl(node, "join_cluster", first.name)
            self.ctl(node, "start_app")
        assert self.running_nodes() == {node.name for node in self.nodes}

    def await_running(self, node: Node) -> None:
        """Until the node runs; before its VM registers with epmd, rabbitmqctl finds none."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self.ctl(node, "await_startup", "--timeout", "30", timeout=40)
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.5)

    def running_nodes(self, asking: Node | None = None) -> set[str]:
        status = json.loads(
            self.ctl(asking or self.nodes[0], "cluster_status", "--formatter", "json")
        )
        return set(status["running_nodes"])

    def stop_app(self, node: Node) -> None:
        """The node leaves: its connections close, its queue replicas stop."""
        self.ctl(node, "stop_app")

    def start_app(self, node: Node) -> None:
        self.ctl(node, "start_app")
        self.await_running(node)

    def leader_of(self, queue: str) -> Node:
        """The node that leads a quorum queue now."""
        for node in self.nodes:
            with contextlib.suppress(RuntimeError):
                listing = self.ctl(node, "list_queues", "name", "leader", "--no-table-headers")
                for line in listing.splitlines():
                    name, _, leader = line.partition("\t")
                    if name == queue:
                        return next(n for n in self.nodes if n.name == leader.strip())
        raise AssertionError(f"no node knows queue {queue!r}")

    def node_of_process(self, pid: int) -> Node:
        """The node a Taskgate process (by its pid) is connected to now."""
        for node in self.nodes:
            with contextlib.suppress(RuntimeError):
                listing = self.ctl(node, "list_connections", "client_properties")
                if f'pid {pid}"' in listing:
                    return node
        raise AssertionError(f"process {pid} has no connection to any node")

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                self.ctl(node, "stop", timeout=30)
        for server in self.servers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, 9)
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(10)
        # Erlang's port mapper daemon is the machine's (shared with its own node): the
        # stopped nodes unregister themselves from it.
        _kill_leftovers(self.base)

    def logs(self) -> str:
        return "\n".join(
            f"--- {node.name}\n" + _tail(node.home / "server.out") for node in self.nodes
        )

    def queue_report(self) -> str:
        """What each queue holds, who consumes it and which node leads it, as the first
        node that answers says: why work stopped moving, when it did."""
        columns = ("name", "messages_ready", "messages_unacknowledged", "consumers", "leader")
        for node in self.nodes:
            with contextlib.suppress(RuntimeError):
                return self.ctl(node, "list_queues", *columns, timeout=20)
        return "no node answered list_queues"


@contextlib.contextmanager
def running_cluster(size: int = 3) -> Iterator[Cluster]:
    """A started, joined cluster; stopped and its directory removed on the way out."""
    # In memory where the machine has it: the nodes' writes need not reach a disk.
    memory = Path("/dev/shm")
    where = memory if memory.is_dir() else None
    base = Path(tempfile.mkdtemp(prefix="taskgate-cluster-", dir=where))
    cluster = Cluster(base=base, nodes=[Node(number, base) for number in range(1, size + 1)])
    _stop_stale_nodes(cluster)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


def _stop_stale_nodes(cluster: Cluster) -> None:
    """Nodes of an earlier run that was killed before it could clean up hold the ports."""
    for node in cluster.nodes:
        with contextlib.suppress(Exception):
            cluster.ctl(node, "stop", timeout=20)


def _kill_leftovers(base: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = subprocess.run(["pgrep", "-f", str(base)], capture_output=True, text=True)
        pids = [int(pid) for pid in found.stdout.split()]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        time.sleep(0.2)


def _chown(path: Path) -> None:
    account = pwd.getpwnam(RABBIT_USER)
    for root, dirs, files in os.walk(path):
        for name in [root, *(os.path.join(root, entry) for entry in dirs + files)]:
            os.chown(name, account.pw_uid, account.pw_gid)


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else "(no output)"
