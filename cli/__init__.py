"""`taskgate`, the command line: tasks and the dead-letter queue over the HTTP API, and API
keys straight in the database."""
