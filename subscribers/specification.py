"""The AsyncAPI document, generated from the real subscribers and publishers."""

from faststream.specification import AsyncAPI

from publishers.broker import broker

asyncapi = AsyncAPI(
    broker,
    title="Taskgate",
    version="0.1.0",
    description=(
        "Tasks submitted over HTTP, run by workers, dead-lettered when they fail for good."
    ),
)
