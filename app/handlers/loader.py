"""Import the modules whose `@task_handler` functions fill the registry."""

import importlib

from app.handlers.registry import HandlerRegistry, registry
from app.settings import get_settings

BUILTIN_MODULE = "app.handlers.builtin"


def load_handlers() -> HandlerRegistry:
    """Import the built-in handlers and every module named in TASKGATE_HANDLERS."""
    for module in [BUILTIN_MODULE, *get_settings().handler_modules]:
        importlib.import_module(module)
    return registry
