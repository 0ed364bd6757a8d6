#!/usr/bin/env bash
# Installs what is missing and starts PostgreSQL, RabbitMQ, an S3-compatible server and
# the upstream API simulator on loopback, data under $INGESTION_DATA. Idempotent: a
# server that already answers is left alone. `infra/down.sh` stops what this started.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

log() { printf '[infra] %s\n' "$*"; }
die() { printf '[infra] error: %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# PostgreSQL refuses to run as root; when we are root, it runs as the postgres user.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  local port=$1 what=$2 seconds=${3:-60}
  for _ in $(seq $((seconds * 5))); do port_open "$port" && return 0; sleep 0.2; done
  die "$what did not open port $port within ${seconds}s (logs: $INGESTION_LOG_DIR)"
}
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

apt_updated=false
apt_install() {
  $apt_updated || { as_root apt-get update -qq; apt_updated=true; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

install_missing() {
  if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    log "installing postgresql"; apt_install postgresql
  fi
  if [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
    log "installing rabbitmq-server"; apt_install rabbitmq-server
  fi
  command -v node >/dev/null || { log "installing nodejs"; apt_install nodejs npm; }
  for tool in curl jq; do command -v $tool >/dev/null || { log "installing $tool"; apt_install $tool; }; done
  # The console's browser tests drive Debian's Chromium (Playwright cannot download its own here).
  if [ ! -x /usr/bin/chromium ]; then
    log "installing chromium (browser tests)"; apt_install chromium
  fi
  if [ ! -f "$INGESTION_ROOT/infra/s3/node_modules/s3rver/package.json" ]; then
    log "installing s3rver (pinned by infra/s3/package-lock.json)"
    (cd "$INGESTION_ROOT/infra/s3" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

start_postgres() {
  local bin data=$INGESTION_DATA/postgres sock=$INGESTION_DATA/postgres-socket
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  mkdir -p "$sock"
  if [ "$(id -u)" = 0 ]; then chown postgres "$sock"; fi
  if [ ! -f "$data/PG_VERSION" ]; then
    log "initialising PostgreSQL in $data"
    mkdir -p "$data"; chmod 700 "$data"
    if [ "$(id -u)" = 0 ]; then chown postgres "$data"; fi
    as_pg "$bin/initdb" -D "$data" -U postgres -E UTF8 --no-locale \
      --auth-local=trust --auth-host=scram-sha-256 >"$INGESTION_LOG_DIR/initdb.log"
    cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $INGESTION_PG_PORT
unix_socket_directories = '$sock'
max_connections = 300
shared_buffers = 256MB
max_wal_size = 4GB
EOF
  fi
  if as_pg "$bin/pg_ctl" status -D "$data" >/dev/null 2>&1; then
    log "PostgreSQL already running on $INGESTION_PG_PORT"
  else
    log "starting PostgreSQL on 127.0.0.1:$INGESTION_PG_PORT"
    touch "$INGESTION_LOG_DIR/postgres.log"
    if [ "$(id -u)" = 0 ]; then chown postgres "$INGESTION_LOG_DIR/postgres.log"; fi
    as_pg "$bin/pg_ctl" start -D "$data" -l "$INGESTION_LOG_DIR/postgres.log" -w -t 60 >/dev/null
  fi
  local psql=("$bin/psql" -h "$sock" -p "$INGESTION_PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
  if [ "$(as_pg "${psql[@]}" -d postgres -c "select 1 from pg_roles where rolname = '$INGESTION_DB_USER'")" != 1 ]; then
    as_pg "${psql[@]}" -d postgres -c "create role \"$INGESTION_DB_USER\" login createdb password '$INGESTION_DB_PASSWORD'"
  fi
  # Benchmarks checkpoint before each timed load, so one load's WAL is not flushed during the next.
  as_pg "${psql[@]}" -d postgres -c "grant pg_checkpoint to \"$INGESTION_DB_USER\"" 2>/dev/null || true
  # bench-read reports what the checkpointer and autovacuum were doing in its slowest second (pg_stat_activity).
  as_pg "${psql[@]}" -d postgres -c "grant pg_read_all_stats to \"$INGESTION_DB_USER\"" 2>/dev/null || true
  if [ "$(as_pg "${psql[@]}" -d postgres -c "select 1 from pg_database where datname = '$INGESTION_DB_NAME'")" != 1 ]; then
    as_pg "${psql[@]}" -d postgres -c "create database \"$INGESTION_DB_NAME\" owner \"$INGESTION_DB_USER\""
  fi
}

source "$INGESTION_ROOT/infra/rabbitmq/env.sh"

start_rabbitmq() {
  rabbit_env
  mkdir -p "$HOME" "$RABBITMQ_LOG_BASE"
  touch "$RABBITMQ_CONF_ENV_FILE"
  cat >"$RABBITMQ_CONFIG_FILE.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$INGESTION_AMQP_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $INGESTION_RABBIT_MGMT_PORT
EOF
  if pid_alive "$RABBITMQ_PID_FILE" && port_open "$INGESTION_AMQP_PORT"; then
    log "RabbitMQ already running on $INGESTION_AMQP_PORT"
    return
  fi
  # epmd is started by us, not by Erlang, so that down.sh can stop it by its pid.
  if ! pid_alive "$INGESTION_PID_DIR/epmd.pid"; then
    nohup epmd -port "$INGESTION_EPMD_PORT" -address 127.0.0.1 >>"$INGESTION_LOG_DIR/epmd.log" 2>&1 &
    echo $! >"$INGESTION_PID_DIR/epmd.pid"
    wait_port "$INGESTION_EPMD_PORT" epmd 10
  fi
  log "starting RabbitMQ on 127.0.0.1:$INGESTION_AMQP_PORT (management on $INGESTION_RABBIT_MGMT_PORT)"
  nohup /usr/lib/rabbitmq/bin/rabbitmq-server >>"$INGESTION_LOG_DIR/rabbitmq-server.log" 2>&1 &
  timeout 120 /usr/lib/rabbitmq/bin/rabbitmqctl -n rabbit@localhost wait --timeout 90 "$RABBITMQ_PID_FILE" >/dev/null \
    || die "RabbitMQ did not start (logs: $INGESTION_LOG_DIR/rabbitmq*)"
  rabbitmqctl await_startup --timeout 90 >/dev/null
  if ! rabbitmqctl list_users --silent | grep -q "^$INGESTION_RABBIT_USER\b"; then
    rabbitmqctl add_user "$INGESTION_RABBIT_USER" "$INGESTION_RABBIT_PASSWORD" >/dev/null
  fi
  rabbitmqctl set_user_tags "$INGESTION_RABBIT_USER" administrator >/dev/null
  rabbitmqctl set_permissions -p / "$INGESTION_RABBIT_USER" '.*' '.*' '.*' >/dev/null
  wait_port "$INGESTION_RABBIT_MGMT_PORT" "RabbitMQ management" 60
}

start_s3() {
  local pidfile=$INGESTION_PID_DIR/s3.pid
  if pid_alive "$pidfile" && port_open "$INGESTION_S3_PORT"; then
    log "S3 server already running on $INGESTION_S3_PORT"
    return
  fi
  log "starting S3 server (s3rver) on 127.0.0.1:$INGESTION_S3_PORT, bucket $INGESTION_S3_BUCKET"
  mkdir -p "$INGESTION_DATA/s3"
  # s3rver encrypts listing continuation tokens with DES, which OpenSSL 3 keeps in its legacy provider.
  nohup node --openssl-legacy-provider "$INGESTION_ROOT/infra/s3/server.js" \
    "$INGESTION_DATA/s3" 127.0.0.1 "$INGESTION_S3_PORT" "$INGESTION_S3_BUCKET" >>"$INGESTION_LOG_DIR/s3.log" 2>&1 &
  echo $! >"$pidfile"
  wait_port "$INGESTION_S3_PORT" "S3 server" 30
}

# The upstream API simulator: plain Node.js, no packages. Its data is computed from a seed, so it
# keeps nothing on disk; `POST /_sim/config` reconfigures it (infra/simulator/server.js).
start_simulator() {
  local pidfile=$INGESTION_PID_DIR/simulator.pid
  if pid_alive "$pidfile" && port_open "$INGESTION_SIM_PORT"; then
    log "API simulator already running on $INGESTION_SIM_PORT"
    return
  fi
  log "starting the upstream API simulator on 127.0.0.1:$INGESTION_SIM_PORT"
  nohup node "$INGESTION_ROOT/infra/simulator/server.js" --host 127.0.0.1 --port "$INGESTION_SIM_PORT" \
    >>"$INGESTION_LOG_DIR/simulator.log" 2>&1 &
  echo $! >"$pidfile"
  wait_port "$INGESTION_SIM_PORT" "API simulator" 30
}

mkdir -p "$INGESTION_DATA" "$INGESTION_PID_DIR" "$INGESTION_LOG_DIR"
install_missing
start_postgres
start_rabbitmq
start_s3
start_simulator
log "ready: postgres :$INGESTION_PG_PORT, rabbitmq :$INGESTION_AMQP_PORT, s3 :$INGESTION_S3_PORT, simulator :$INGESTION_SIM_PORT (data in $INGESTION_DATA)"
