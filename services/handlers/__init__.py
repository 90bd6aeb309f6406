"""Task handlers: what a handler module imports to declare one.

from services.handlers import Backoff, TaskContext, task_handler
"""

from services.handlers.backoff import Backoff
from services.handlers.context import TaskContext
from services.handlers.registry import task_handler

__all__ = ["Backoff", "TaskContext", "task_handler"]
