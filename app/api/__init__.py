"""HTTP routes, their dependencies and the mapping of domain errors to status codes."""
