#!/usr/bin/env bash
# Runs once, when the PostgreSQL volume is new: the role Taskgate connects as (not a
# superuser: it owns its database and nothing else), and that database.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v role="$TASKGATE_DB_USER" -v password="$TASKGATE_DB_PASSWORD" -v db="$TASKGATE_DB_NAME" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password' NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;
CREATE DATABASE :"db" OWNER :"role";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
