"""Import the modules whose `@task_handler` functions fill the registry."""

import importlib
from collections.abc import Sequence

from services.handlers.registry import HandlerRegistry, registry

BUILTIN_MODULE = "services.handlers.builtin"


def load_handlers(modules: Sequence[str] = ()) -> HandlerRegistry:
    """Import the built-in handlers and `modules` (TASKGATE_HANDLERS); the registry."""
    for module in [BUILTIN_MODULE, *modules]:
        importlib.import_module(module)
    return registry
