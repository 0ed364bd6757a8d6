#!/usr/bin/env bash
# A three-node RabbitMQ cluster on this machine, for `make chaos` (make run and make test use
# the single node of up.sh). Nodes rabbit-1..3@localhost share one Erlang cookie and an epmd of
# their own; node N listens on AMQP $base+N, management $base+10+N, distribution $base+20+N, with
# base = INGESTION_CLUSTER_PORT_BASE (default: INGESTION_AMQP_PORT + 10). Data and logs under
# $INGESTION_DATA/cluster: `up` forms a fresh cluster every time (it is scratch, like the run).
#
#   infra/cluster.sh up | down | status | stop-node N | start-node N | ports | list-queues [VHOST]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

base=${INGESTION_CLUSTER_PORT_BASE:-$((INGESTION_AMQP_PORT + 10))}
dir=$INGESTION_DATA/cluster
epmd_port=$((base + 30))

log() { printf '[cluster] %s\n' "$*"; }
die() { printf '[cluster] error: %s\n' "$*" >&2; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

amqp_port() { echo $((base + $1)); }
node_name() { echo "rabbit-$1@localhost"; }

node_env() {
  local n=$1
  export HOME=$dir # one cookie for every node and for rabbitmqctl
  export RABBITMQ_NODENAME; RABBITMQ_NODENAME=$(node_name "$n")
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT=$((base + n))
  export RABBITMQ_DIST_PORT=$((base + 20 + n))
  export ERL_EPMD_PORT=$epmd_port
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_MNESIA_BASE=$dir/node$n/mnesia
  export RABBITMQ_LOG_BASE=$dir/node$n/log
  export RABBITMQ_PID_FILE=$dir/node$n/rabbitmq.pid
  export RABBITMQ_CONFIG_FILE=$dir/node$n/rabbitmq
  export RABBITMQ_ENABLED_PLUGINS_FILE=$INGESTION_ROOT/infra/rabbitmq/enabled_plugins
  export RABBITMQ_CONF_ENV_FILE=$dir/node$n/rabbitmq-env.conf
}

ctl() { local n=$1; shift; (node_env "$n" && /usr/lib/rabbitmq/bin/rabbitmqctl -n "$(node_name "$n")" "$@"); }

start_node() {
  local n=$1
  (
    node_env "$n"
    mkdir -p "$RABBITMQ_MNESIA_BASE" "$RABBITMQ_LOG_BASE"
    touch "$RABBITMQ_CONF_ENV_FILE"
    cat >"$RABBITMQ_CONFIG_FILE.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$((base + n))
management.tcp.ip = 127.0.0.1
management.tcp.port = $((base + 10 + n))
CONF
    if pid_alive "$RABBITMQ_PID_FILE" && port_open "$((base + n))"; then
      log "node $n already running"
      exit 0
    fi
    nohup /usr/lib/rabbitmq/bin/rabbitmq-server >>"$dir/node$n/server.log" 2>&1 &
    timeout 150 /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBITMQ_NODENAME" wait --timeout 120 "$RABBITMQ_PID_FILE" >/dev/null \
      || die "node $n did not start (logs: $dir/node$n)"
  )
  ctl "$n" await_startup --timeout 120 >/dev/null
}

stop_node() {
  local n=$1 pid
  local pidfile=$dir/node$n/rabbitmq.pid
  pid_alive "$pidfile" || return 0
  pid=$(cat "$pidfile")
  ctl "$n" stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  rm -f "$pidfile"
}

up() {
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || die "rabbitmq-server is not installed (make infra-up installs it)"
  if pid_alive "$dir/node1/rabbitmq.pid" && port_open "$(amqp_port 1)"; then
    log "already running: $(ports)"
    return
  fi
  down >/dev/null
  rm -rf "$dir"
  mkdir -p "$dir"
  # Erlang reads the cookie from $HOME; it must be private to its owner.
  head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$dir/.erlang.cookie"
  chmod 400 "$dir/.erlang.cookie"
  nohup epmd -port "$epmd_port" -address 127.0.0.1 >>"$dir/epmd.log" 2>&1 &
  echo $! >"$dir/epmd.pid"
  for _ in $(seq 50); do port_open "$epmd_port" && break; sleep 0.2; done
  log "starting three nodes (AMQP $(amqp_port 1), $(amqp_port 2), $(amqp_port 3))"
  local starting=()
  for n in 1 2 3; do start_node "$n" & starting+=($!); done
  for pid in "${starting[@]}"; do wait "$pid" || die "a node did not start"; done
  for n in 2 3; do
    ctl "$n" stop_app >/dev/null 2>>"$dir/join.log"
    ctl "$n" reset >/dev/null 2>>"$dir/join.log"
    ctl "$n" join_cluster "$(node_name 1)" >/dev/null 2>>"$dir/join.log"
    ctl "$n" start_app >/dev/null 2>>"$dir/join.log"
  done
  ctl 1 add_user "$INGESTION_RABBIT_USER" "$INGESTION_RABBIT_PASSWORD" >/dev/null
  ctl 1 set_user_tags "$INGESTION_RABBIT_USER" administrator >/dev/null
  ctl 1 set_permissions -p / "$INGESTION_RABBIT_USER" '.*' '.*' '.*' >/dev/null
  local running
  running=$(ctl 1 cluster_status --formatter json | jq -r '.running_nodes | length')
  [ "$running" = 3 ] || die "cluster has $running running nodes, expected 3"
  log "ready: $(ports)"
}

down() {
  for n in 3 2 1; do stop_node "$n"; done
  if pid_alive "$dir/epmd.pid"; then kill -TERM "$(cat "$dir/epmd.pid")"; fi
  rm -f "$dir/epmd.pid"
  log "stopped"
}

# One line a script can read: the nodes as RabbitMq:Nodes wants them, and the management ports.
ports() { echo "nodes=127.0.0.1:$(amqp_port 1),127.0.0.1:$(amqp_port 2),127.0.0.1:$(amqp_port 3) management=$((base + 11)),$((base + 12)),$((base + 13))"; }

check_n() { [[ ${1:-} =~ ^[123]$ ]] || die "node number must be 1, 2 or 3"; }

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) ctl 1 cluster_status ;;
  ports) ports ;;
  list-queues) ctl 1 list_queues -p "${2:-/}" name type --silent ;;
  stop-node) check_n "${2:-}"; stop_node "$2"; log "node $2 stopped" ;;
  start-node) check_n "${2:-}"; start_node "$2"; log "node $2 running" ;;
  *) die "usage: infra/cluster.sh up | down | status | ports | stop-node N | start-node N" ;;
esac
