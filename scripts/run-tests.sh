#!/usr/bin/env bash
# The whole suite, in two passes (`make test`; PYTEST_ARGS narrows both):
#  1. the tests that may share the machine, on two processes at once (pytest-xdist; each
#     process has a database and broker names of its own);
#  2. one at a time, the `exclusive` ones: the reliability tests that stop the machine's
#     RabbitMQ or PostgreSQL, and the cluster test, which runs RabbitMQ nodes of its own.
# A pass that PYTEST_ARGS leaves without tests is not a failure.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DB_NAME=taskgate_test
read -r -a selection <<<"${PYTEST_ARGS:-}"

pass() {
  .venv/bin/pytest "$@" "${selection[@]}"
  local status=$?
  ((status == 5)) && return 0 # no tests collected
  return "$status"
}

pass -n 2 -m "not exclusive" || exit
pass -m exclusive
