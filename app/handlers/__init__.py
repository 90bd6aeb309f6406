"""Task handlers: the registry and the built-in handlers."""
