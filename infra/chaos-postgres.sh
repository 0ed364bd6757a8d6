#!/usr/bin/env bash
# The PostgreSQL of `make chaos`: a server of its own (data under $INGESTION_DATA/chaos/postgres,
# port INGESTION_CHAOS_PG_PORT, default INGESTION_PG_PORT + 40), so that restarting it never
# touches the one `make test` and `make run` use.
#
#   infra/chaos-postgres.sh up | down | restart | port
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

port=${INGESTION_CHAOS_PG_PORT:-$((INGESTION_PG_PORT + 40))}
data=$INGESTION_DATA/chaos/postgres
sock=$INGESTION_DATA/chaos/postgres-socket
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
log() { printf '[chaos-postgres] %s\n' "$*"; }

up() {
  mkdir -p "$sock" "$INGESTION_DATA/chaos"
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"; chmod 700 "$data"
    if [ "$(id -u)" = 0 ]; then chown postgres "$data" "$sock"; fi
    as_pg "$bin/initdb" -D "$data" -U postgres -E UTF8 --no-locale --auth-local=trust --auth-host=scram-sha-256 >"$INGESTION_DATA/chaos/initdb.log"
    cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
max_connections = 300
shared_buffers = 128MB
CONF
  fi
  if ! as_pg "$bin/pg_ctl" status -D "$data" >/dev/null 2>&1; then
    touch "$INGESTION_DATA/chaos/postgres.log"
    if [ "$(id -u)" = 0 ]; then chown postgres "$INGESTION_DATA/chaos/postgres.log"; fi
    as_pg "$bin/pg_ctl" start -D "$data" -l "$INGESTION_DATA/chaos/postgres.log" -w -t 60 >/dev/null
  fi
  local psql=("$bin/psql" -h "$sock" -p "$port" -U postgres -v ON_ERROR_STOP=1 -qtA -d postgres)
  if [ "$(as_pg "${psql[@]}" -c "select 1 from pg_roles where rolname = '$INGESTION_DB_USER'")" != 1 ]; then
    as_pg "${psql[@]}" -c "create role \"$INGESTION_DB_USER\" login createdb password '$INGESTION_DB_PASSWORD'"
  fi
  log "ready on 127.0.0.1:$port"
}

case "${1:-}" in
  up) up ;;
  down) [ -f "$data/postmaster.pid" ] && as_pg "$bin/pg_ctl" stop -D "$data" -m fast -w >/dev/null; log "stopped" ;;
  # -m fast: every session is ended, as when the server crashes or fails over.
  restart) as_pg "$bin/pg_ctl" restart -D "$data" -m fast -w -t 60 -l "$INGESTION_DATA/chaos/postgres.log" >/dev/null ;;
  port) echo "$port" ;;
  *) echo "usage: infra/chaos-postgres.sh up | down | restart | port" >&2; exit 2 ;;
esac
