"""The ground floor: settings and every name Taskgate uses. Imports nothing of Taskgate."""
