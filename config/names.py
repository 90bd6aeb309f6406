"""Every exchange, queue, routing key, header and channel name Taskgate uses, and the
defaults that go with them, in one place.

The defaults here are the values of the RMQ_* settings when the environment sets none.
"""

# Work path: the API publishes tasks to this exchange; workers consume the queue.
DEFAULT_EXCHANGE = "taskgate"
DEFAULT_ROUTING_KEY = "task"
DEFAULT_QUEUE = "taskgate.tasks"

# The queue a task goes to when neither its handler nor its submit names one.
DEFAULT_TASK_QUEUE = "default"
# Priorities run from 0 to 9, a higher one first. Quorum queues have no message priorities,
# so each named queue is three queues, one per band, that workers drain by weight.
MIN_PRIORITY, MAX_PRIORITY, DEFAULT_PRIORITY = 0, 9, 5
HIGH_PRIORITY_FROM, NORMAL_PRIORITY_FROM = 7, 3
# A queue name becomes part of RabbitMQ queue names and routing keys.
QUEUE_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"

# Redeliveries of one message before RabbitMQ dead-letters it: a backstop against a
# message that crashes every worker; retries of failing tasks are counted in PostgreSQL.
DELIVERY_LIMIT = 20

# Dead-letter path: a task that failed for good, or a message no worker could read.
DEFAULT_DEAD_LETTER_EXCHANGE = "taskgate.dlx"
DEFAULT_DEAD_LETTER_ROUTING_KEY = "dead"
DEFAULT_DEAD_LETTER_QUEUE = "taskgate.dead-letter"

# Cancel signals: a fanout exchange every worker process binds its own temporary queue to.
CANCEL_EXCHANGE_SUFFIX = ".cancel"

# Delayed redelivery (retry backoff): one queue per power-of-two delay, from 1 s to
# 2**MAX_DELAY_LEVEL s. Each message carries its own TTL; a queue holds only TTLs in
# (2**(level-1), 2**level] s, so one stuck behind a longer one is late by less than its own
# delay. On expiry RabbitMQ dead-letters it back to the work exchange under the routing key
# it carries in its CC header (its own work queue).
DELAY_EXCHANGE_SUFFIX = ".delay"
DELAY_QUEUE_SUFFIX = ".delayed"
MAX_DELAY_LEVEL = 12

# Concurrent submits of one queue and band travel as one message of up to this many tasks,
# marked with this header: one publish, one delivery and one ack carry them all.
TASK_BATCH_LIMIT = 100
HEADER_TASK_BATCH = "x-taskgate-batch"

# Headers on dead-lettered messages: why the worker gave up, and on which task.
HEADER_DEAD_REASON = "x-taskgate-reason"
HEADER_TASK_ID = "x-taskgate-task-id"
# Set when the worker recorded the death itself before sending the message: the dead-letter
# subscriber then leaves the task alone (it may have been replayed or purged since).
HEADER_DEATH_RECORDED = "x-taskgate-death-recorded"

# Set by RabbitMQ on messages it dead-lettered itself (reject, delivery limit, TTL).
HEADER_X_DEATH = "x-death"

# PostgreSQL NOTIFY channel: a task's id, each time one reaches a terminal state (a trigger
# sends it; the API's long polls listen).
TASK_FINISHED_CHANNEL = "taskgate_task_finished"

# NOTIFY channel: a key's id, each time a key is revoked (a trigger sends it; every API
# process listens, and forgets what it knew of the key).
KEY_CHANGED_CHANNEL = "taskgate_key_changed"

# API keys look like `tg_<prefix>_<secret>`: the prefix finds the key's row, only a hash of
# the secret is kept. Sent as `Authorization: Bearer <key>` or `X-API-Key: <key>`.
API_KEY_MARK = "tg"
API_KEY_HEADER = "X-API-Key"
# A request's correlation id: taken from the client when it is sane (REQUEST_ID_PATTERN),
# else made up; echoed in the answer, carried with each task to the worker's log lines.
REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
# Each field of a task message's `origin` (traceparent, request id, tenant) is at most this
# long: generous, since a message breaking it would be dead-lettered.
ORIGIN_FIELD_MAX_CHARS = 256
# Tenant names: what a key's tenant may be called ("" is no tenant: auth off, or a message
# no task stands behind).
TENANT_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"

# Messages carry an HMAC of their body and their x-taskgate-* headers; a worker changes no
# task for a message whose signature does not verify.
HEADER_SIGNATURE = "x-taskgate-signature"
# Set (and signed) by a worker that dead-letters a message it could not trust: the record
# names no task, and changes none.
HEADER_UNVERIFIED = "x-taskgate-unverified"

# Webhooks: the headers of each delivery (its event, the event's id, which stays the same
# on every retry, and `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`), and the
# retries of one that failed: 1 s doubling up to an hour between attempts, each wait cut by
# up to a quarter at random (so receivers that came back are not hit all at once), until
# 26 hours after the event; then it is given up.
HEADER_WEBHOOK_EVENT = "Taskgate-Event"
HEADER_WEBHOOK_EVENT_ID = "Taskgate-Event-Id"
HEADER_WEBHOOK_SIGNATURE = "Taskgate-Signature"
WEBHOOK_FIRST_RETRY_SECONDS = 1.0
WEBHOOK_MAX_RETRY_SECONDS = 3600.0
WEBHOOK_RETRY_JITTER = 0.25
WEBHOOK_GIVE_UP_SECONDS = 26 * 3600
# Webhooks one tenant may have: each one multiplies the deliveries of every task event.
MAX_WEBHOOKS_PER_TENANT = 20

# The idempotency key of the task a schedule makes at a tick: `schedule:<id>:<tick>`, the
# tick in ISO 8601 (UTC). However many processes race for the tick, it has one task.
SCHEDULE_KEY_PREFIX = "schedule"
