"""Reading compose files the way `docker compose` does, for the structural checks of
`compose.yaml` and `compose.cluster.yaml`."""

from typing import Any


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, given as a mapping or as a list of NAME=value."""
    listed = service.get("environment", {})
    if isinstance(listed, list):
        return dict(item.split("=", 1) for item in listed)
    return {name: str(value) for name, value in listed.items()}


def condition(service: dict[str, Any], dependency: str) -> str:
    return service["depends_on"][dependency]["condition"]


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path of a service's bind mounts of repository files."""
    return {
        volume.split(":")[1]: volume.split(":")[0]
        for volume in service.get("volumes", [])
        if volume.startswith("./")
    }


def strings(value: Any) -> set[str]:
    """Every string (key or value) in a parsed YAML document."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return {s for item in value.values() for s in strings(item)} | set(map(str, value))
    if isinstance(value, list):
        return {s for item in value for s in strings(item)}
    return set()
