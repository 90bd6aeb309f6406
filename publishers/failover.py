"""One connection to a RabbitMQ cluster: to any live node, and to another when its node goes.

aio-pika's robust connection reconnects (and restores channels, queues and consumers) on its
own, but always to the one address it was given: a process whose node stopped for good
would wait for that node forever while the others hold a quorum of every queue. This
connection walks the cluster's addresses instead. Each attempt tries every node once,
starting after the one it last used (a node that just went away is tried last); only when
none answers is the attempt a failure, retried after the reconnect interval.
"""

import logging
import random
from collections.abc import Sequence
from typing import Any

from aio_pika import RobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS

logger = logging.getLogger(__name__)


class FailoverConnection(RobustConnection):
    """A robust connection over the nodes in `ADDRESSES` (set on a subclass per broker by
    `failover_connection`); the URL it is made with gives the credentials and options."""

    ADDRESSES: Sequence[tuple[str, int]] = ()

    def __init__(self, url: Any, loop: Any = None, **kwargs: Any) -> None:
        super().__init__(url, loop=loop, **kwargs)
        # Processes start at a node of their own: a fleet spreads over the cluster.
        self._cursor = random.randrange(len(self.ADDRESSES)) if self.ADDRESSES else 0

    @property
    def node(self) -> str:
        """`host:port` of the node this connection uses (or last tried)."""
        return f"{self.url.host}:{self.url.port}"

    # aio-pika calls this (a private step of RobustConnection) for every connection attempt,
    # the first and each reconnection; it connects to `self.url`.
    async def _RobustConnection__connect_transport(self) -> None:  # noqa: N802
        attempt = super()._RobustConnection__connect_transport  # type: ignore[misc]
        if not self.ADDRESSES:
            await attempt()
            return
        failures: list[str] = []
        for _ in range(len(self.ADDRESSES)):
            host, port = self.ADDRESSES[self._cursor]
            self._cursor = (self._cursor + 1) % len(self.ADDRESSES)
            self.url = self.url.with_host(host).with_port(port)
            try:
                await attempt()
            except CONNECTION_EXCEPTIONS as error:
                failures.append(f"{host}:{port} ({type(error).__name__}: {error})")
                continue
            if failures:
                logger.warning(
                    "RabbitMQ: connected to %s; no answer from %s", self.node, "; ".join(failures)
                )
            return
        raise ConnectionError("no RabbitMQ node answered: " + "; ".join(failures))


def failover_connection(addresses: Sequence[tuple[str, int]]) -> type[FailoverConnection]:
    """The connection class for a broker of these nodes."""
    return type("FailoverConnection", (FailoverConnection,), {"ADDRESSES": tuple(addresses)})
