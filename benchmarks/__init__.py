"""Taskgate measured side by side with a hand-written baseline (`make bench`, `make bench-soak`).

`python -m benchmarks` runs the comparison, `python -m benchmarks.soak` the long run; both
start the processes they measure on a fresh database and fresh queues, and stop them after.
"""
