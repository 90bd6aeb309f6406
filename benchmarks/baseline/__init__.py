"""The baseline: the smallest hand-written service with Taskgate's core guarantees.

FastAPI + one asyncpg pool + one aio-pika channel, no ORM. The API commits the row before it
answers 202 and publishes each task persistent and publisher-confirmed to a durable quorum
queue; the worker commits the outcome before it acks. What it leaves out, and Taskgate pays
for, is the rest of Taskgate: the outbox marker and relay, idempotency keys, payload
validation per handler, leases, retries with backoff, dead-lettering with reasons.
"""
