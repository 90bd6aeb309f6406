"""Taskgate's HTTP API and the business rules shared with the workers."""
