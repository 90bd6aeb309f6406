#!/usr/bin/env bash
# Make sure PostgreSQL (DB_HOST:DB_PORT) and RabbitMQ (RMQ_HOST:RMQ_PORT) answer.
# Silent with exit 0 when both do. A service on this machine that does not answer is
# started, by the first of: ../shared/services.sh, docker compose (when a Docker engine
# answers), or apt-get + pg_ctlcluster / rabbitmq-server (as root). A service on another
# host is never started, only checked. Otherwise one line on stderr and exit 1.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

# The same variables the settings read; the environment wins over .env.
read_dotenv() { # name
  [[ -f .env ]] || return 0
  sed -nE "s/^[[:space:]]*(export[[:space:]]+)?$1[[:space:]]*=[[:space:]]*['\"]?([^'\"#[:space:]]*).*/\2/p" .env |
    tail -n 1
}
for name in DB_HOST DB_PORT RMQ_HOST RMQ_PORT; do
  [[ -n ${!name:-} ]] || printf -v "$name" '%s' "$(read_dotenv "$name")"
done
db_host=${DB_HOST:-127.0.0.1} db_port=${DB_PORT:-5432}
rmq_host=${RMQ_HOST:-127.0.0.1} rmq_port=${RMQ_PORT:-5672}
wait_seconds=90

is_local() { [[ $1 == 127.0.0.1 || $1 == localhost || $1 == ::1 ]]; }

bounded() { # seconds, command...
  local seconds=$1
  shift
  if command -v timeout >/dev/null; then timeout "$seconds" "$@"; else "$@"; fi
}

pg_answers() {
  if command -v pg_isready >/dev/null; then
    pg_isready -q -h "$db_host" -p "$db_port" -t 3
  else
    bounded 3 bash -c ': <>"/dev/tcp/$0/$1"' "$db_host" "$db_port" 2>/dev/null
  fi
}

# An AMQP 0-9-1 broker answers the protocol header with a method frame (type 1).
rmq_answers() {
  LC_ALL=C bounded 5 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "AMQP\0\0\11\1" >&3
    IFS= read -r -d "" -N 1 frame <&3 && [[ $frame == "$2" ]]
  ' "$rmq_host" "$rmq_port" $'\x01' 2>/dev/null
}

answers() { # postgres|rabbitmq
  case $1 in
    postgres) pg_answers ;;
    rabbitmq) rmq_answers ;;
  esac
}

down_services() {
  local service
  for service in postgres rabbitmq; do answers "$service" || echo "$service"; done
}

wait_for() { # services...
  local deadline=$((SECONDS + wait_seconds)) service
  for service in "$@"; do
    until answers "$service"; do
      ((SECONDS < deadline)) || return 1
      sleep 1
    done
  done
}

have_docker_engine() {
  command -v docker >/dev/null && docker compose version >/dev/null 2>&1 &&
    docker info >/dev/null 2>&1
}

start_with_apt() { # services...
  local packages=() service version hba
  for service in "$@"; do
    case $service in
      postgres) command -v pg_ctlcluster >/dev/null || packages+=(postgresql) ;;
      rabbitmq) command -v rabbitmq-server >/dev/null || packages+=(rabbitmq-server) ;;
    esac
  done
  if ((${#packages[@]})); then
    echo "taskgate: installing ${packages[*]} with apt-get" >&2
    apt-get update -qq >/dev/null &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null 2>&1 ||
      return 1
  fi
  for service in "$@"; do
    case $service in
      postgres)
        version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
        [[ -n $version ]] || return 1
        # A fresh cluster asks for a password on loopback; the local defaults have none.
        hba=/etc/postgresql/$version/main/pg_hba.conf
        sed -i -E '/^host[[:space:]].*[[:space:]](127\.0\.0\.1\/32|::1\/128)[[:space:]]/ s/(peer|md5|scram-sha-256)[[:space:]]*$/trust/' "$hba"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 ||
          pg_ctlcluster --skip-systemctl-redirect "$version" main reload >/dev/null 2>&1
        ;;
      rabbitmq) rabbitmq-server -detached >/dev/null 2>&1 ;;
    esac
  done
}

describe() { # services...
  if (($# == 2)); then
    echo "PostgreSQL on $db_host:$db_port and RabbitMQ on $rmq_host:$rmq_port are not answering"
  elif [[ $1 == postgres ]]; then
    echo "PostgreSQL is not answering on $db_host:$db_port"
  else
    echo "RabbitMQ is not answering on $rmq_host:$rmq_port"
  fi
}

hint() { # services...
  if (($# == 2)); then
    echo "start them or set DB_HOST/DB_PORT and RMQ_HOST/RMQ_PORT"
  elif [[ $1 == postgres ]]; then
    echo "start it or set DB_HOST/DB_PORT"
  else
    echo "start it or set RMQ_HOST/RMQ_PORT"
  fi
}

fail() { # reason, services...
  local reason=$1
  shift
  echo "taskgate: $(describe "$@") $reason; $(hint "$@")" >&2
  exit 1
}

mapfile -t down < <(down_services)
((${#down[@]})) || exit 0

# Something on another host is never started from here: report it at once.
for service in "${down[@]}"; do
  case $service in
    postgres) host=$db_host ;;
    rabbitmq) host=$rmq_host ;;
  esac
  is_local "$host" || fail "(not on this machine: nothing is started from here)" "${down[@]}"
done

shared=$root/../shared/services.sh
if [[ -f $shared ]]; then
  tried="after running ../shared/services.sh"
  bash "$shared" >/dev/null 2>&1
elif have_docker_engine; then
  tried="after docker compose up (waited ${wait_seconds} s)"
  docker compose up -d "${down[@]}" && wait_for "${down[@]}"
elif [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  tried="after installing/starting with apt-get (waited ${wait_seconds} s)"
  start_with_apt "${down[@]}" && wait_for "${down[@]}"
else
  reason=$(command -v docker >/dev/null && echo "no Docker engine" || echo "no Docker")
  [[ $(id -u) == 0 ]] && reason+=", no apt-get" || reason+=", not root"
  fail "and cannot be started here ($reason)" "${down[@]}"
fi

mapfile -t down < <(down_services)
((${#down[@]})) || exit 0
fail "$tried" "${down[@]}"
