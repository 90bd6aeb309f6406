#!/bin/sh
# Runs once the broker answers (the rabbitmq-users service): the vhost Taskgate uses, and
# one user each for the API and the workers, with only what each needs, through the
# management API. Re-running it is harmless (PUT is idempotent).
set -eu
# The management API of any node (of the cluster, in compose.cluster.yaml).
api="${RABBITMQ_MANAGEMENT_URL:-http://rabbitmq:15672}/api"
admin="$RABBITMQ_ADMIN_USER:$RABBITMQ_ADMIN_PASSWORD"
put() { curl -fsS -u "$admin" -H 'content-type: application/json' -X PUT "$api/$1" -d "$2"; }

put "vhosts/taskgate" '{}'
# Every Taskgate exchange and queue is named taskgate or taskgate.<something>.
names='^taskgate(\\..*)?$'
# The API declares the topology and publishes; it binds queues to exchanges (which needs
# read on the exchanges) but may read no queue: it never consumes a task.
exchanges='^taskgate(\\.dlx|\\.delay|\\.cancel)?$'
put "users/$TASKGATE_API_RMQ_USER" "{\"password\": \"$TASKGATE_API_RMQ_PASSWORD\", \"tags\": \"\"}"
put "permissions/taskgate/$TASKGATE_API_RMQ_USER" \
  "{\"configure\": \"$names\", \"write\": \"$names\", \"read\": \"$exchanges\"}"
# The workers consume, declare their own cancel-signal queues, and publish retries and
# dead letters.
put "users/$TASKGATE_WORKER_RMQ_USER" "{\"password\": \"$TASKGATE_WORKER_RMQ_PASSWORD\", \"tags\": \"\"}"
put "permissions/taskgate/$TASKGATE_WORKER_RMQ_USER" \
  "{\"configure\": \"$names\", \"write\": \"$names\", \"read\": \"$names\"}"
echo "rabbitmq-users: vhost taskgate, users $TASKGATE_API_RMQ_USER and $TASKGATE_WORKER_RMQ_USER"
