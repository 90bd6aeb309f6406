#!/usr/bin/env bash
# Run the Taskgate API and one worker in the foreground (`make run`).
# Ctrl-C or SIGTERM stops both; if either exits on its own, the other is stopped too
# and its exit status is the script's.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bin=.venv/bin
pids=()

stop() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait
}

trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM

# Local development: without a say from the environment, auth is off on a loopback address
# (and only there), and the API says so loudly. `AUTH_ENABLED=true make run` keeps it on.
case "${HOST:-127.0.0.1}" in
  127.0.0.1 | localhost | ::1)
    if [[ -z ${AUTH_ENABLED:-} ]]; then
      export AUTH_ENABLED=false
      echo "make run: AUTH IS OFF for local development on ${HOST:-127.0.0.1} (AUTH_ENABLED=true make run keeps it on)" >&2
    fi
    ;;
esac

"$bin/uvicorn" app.main:app --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}" &
pids+=($!)
"$bin/faststream" run --factory subscribers.worker:create_app --workers "${WORKERS:-1}" &
pids+=($!)

wait -n
status=$?
stop
exit "$status"
