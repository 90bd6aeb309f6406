"""FastStream subscribers (the worker side), attached to the one shared broker."""

from publishers.broker import broker
from subscribers.cancel import router as cancel_router
from subscribers.dead_letter import router as dead_letter_router
from subscribers.tasks import router as task_router

broker.include_routers(task_router, dead_letter_router, cancel_router)
