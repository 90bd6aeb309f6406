"""Every statement on the tasks table, each one named function: read here to know every way
a task row is written or read.

- `submit`: recording accepted tasks, and marking their publishes confirmed (the API).
- `attempts`: what a worker does to a task: claim, succeed, retry, bury, cancel, release, renew.
- `manage`: what clients do to tasks: cancel, replay and purge; dead letters recorded.
- `upkeep`: the background jobs: due tasks released, owed messages found, expired deleted.
- `reads`: one task, pages of tasks, counts.
- `progress`: a running attempt's progress report (the worker, beside the handler).
- `watching`: the columns a live stream of one task reads to see it change (the API).

Each change of state is one conditional UPDATE whose WHERE clause names the states it may
start from, so a duplicated message can never move a task backwards. The hot paths
(submit, claim, success, published marks) are prepared SQL on the driver's connection
(measured: the ORM's per-statement work cost more CPU than the statements); the rest is
SQLAlchemy Core on a session. None of these commit unless they say so: the caller does.
"""
