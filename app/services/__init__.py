"""Business rules, shared by the HTTP routes and the workers."""
