"""The AsyncAPI document, generated from the real subscribers and publishers."""

from faststream.rabbit import RabbitBroker
from faststream.specification import AsyncAPI
from faststream.specification.base import Specification

from config.settings import Settings
from publishers.broker import build_broker
from publishers.publishing import Publishers
from subscribers.registration import register_subscribers

TITLE = "Taskgate"
VERSION = "0.1.0"
DESCRIPTION = "Tasks submitted over HTTP, run by workers, dead-lettered when they fail for good."


def asyncapi_of(broker: RabbitBroker) -> AsyncAPI:
    """The AsyncAPI document of a broker with its subscribers and publishers attached."""
    return AsyncAPI(broker, title=TITLE, version=VERSION, description=DESCRIPTION)


def worker_asyncapi(settings: Settings, queues: list[str]) -> Specification:
    """The document of a worker consuming `queues`, built on a broker of its own that never
    connects (the API serves it without running a worker)."""
    broker = build_broker(settings)
    publishers = Publishers.from_settings(broker, settings)
    register_subscribers(broker, publishers.topology, queues)
    return asyncapi_of(broker).to_specification()
