#!/usr/bin/env bash
# Stops exactly what up.sh started, by pid file: the S3 server, the API simulator, RabbitMQ and its
# epmd, and PostgreSQL (through pg_ctl and its postmaster.pid). Data is kept.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

log() { printf '[infra] %s\n' "$*"; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

stop_pidfile() {
  local name=$1 pidfile=$2 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { log "$name did not stop in 30s, killing"; kill -KILL "$pid"; }
  fi
  rm -f "$pidfile"
}

stop_pidfile "S3 server" "$INGESTION_PID_DIR/s3.pid"
stop_pidfile "API simulator" "$INGESTION_PID_DIR/simulator.pid"
stop_pidfile RabbitMQ "$INGESTION_PID_DIR/rabbitmq.pid"
stop_pidfile epmd "$INGESTION_PID_DIR/epmd.pid"

data=$INGESTION_DATA/postgres
if [ -f "$data/postmaster.pid" ]; then
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  log "stopping PostgreSQL"
  as_pg "$bin/pg_ctl" stop -D "$data" -m fast -w >/dev/null || true
fi
