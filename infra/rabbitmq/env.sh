# RabbitMQ's environment for the node that infra/up.sh runs: its directories, ports and
# Erlang cookie (in HOME) all live under $INGESTION_DATA. Sourced by up.sh and rabbitmqctl.sh.
rabbit_env() {
  local dir=$INGESTION_DATA/rabbitmq
  export HOME=$dir
  export RABBITMQ_NODENAME=rabbit@localhost
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT=$INGESTION_AMQP_PORT
  export RABBITMQ_DIST_PORT=$INGESTION_RABBIT_DIST_PORT
  export ERL_EPMD_PORT=$INGESTION_EPMD_PORT
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_MNESIA_BASE=$dir/mnesia
  export RABBITMQ_LOG_BASE=$INGESTION_LOG_DIR/rabbitmq
  export RABBITMQ_PID_FILE=$INGESTION_PID_DIR/rabbitmq.pid
  export RABBITMQ_CONFIG_FILE=$dir/rabbitmq
  export RABBITMQ_ENABLED_PLUGINS_FILE=$INGESTION_ROOT/infra/rabbitmq/enabled_plugins
  export RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf
}

rabbitmqctl() { /usr/lib/rabbitmq/bin/rabbitmqctl -n rabbit@localhost "$@"; }
