"""What the API tells clients about the registered handlers."""

from app.handlers.registry import TaskHandler, registry


def list_handlers() -> list[TaskHandler]:
    """Every registered handler, by name."""
    return registry.all()
