"""Attaching the worker's subscribers to a broker: what the worker app does at start, and
what the AsyncAPI document is generated from."""

from faststream.rabbit import RabbitBroker, RabbitRouter

from publishers.topology import Band, Topology
from subscribers.cancel_signals import stop_task
from subscribers.dead_letter_recorder import record_dead_letter_message
from subscribers.failure_policy import FailurePolicy, OutagePolicy
from subscribers.work import is_task_batch, run_task, run_task_batch


def register_subscribers(broker: RabbitBroker, topology: Topology, queues: list[str]) -> None:
    """The work subscribers of every band of `queues`, the dead-letter subscriber, and this
    process's cancel-signal subscriber, each under the failure policy."""
    router = RabbitRouter(middlewares=(FailurePolicy,))
    recorder = RabbitRouter(middlewares=(OutagePolicy,))
    for queue in queues:
        for band in Band:
            subscriber = router.subscriber(
                topology.band_queue(queue, band),
                topology.work_exchange,
                title=f"run-task:{queue}:{band}",
                description=f"Runs the {band}-priority tasks of the {queue!r} queue.",
            )
            subscriber(run_task_batch, filter=is_task_batch)
            subscriber(run_task)
    recorder.subscriber(
        topology.dead_letter_queue, topology.dead_letter_exchange, title="record-dead-letter"
    )(record_dead_letter_message)
    router.subscriber(topology.cancel_queue(), topology.cancel_exchange, title="stop-task")(
        stop_task
    )
    broker.include_routers(router, recorder)
