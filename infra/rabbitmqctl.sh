#!/usr/bin/env bash
# rabbitmqctl for the node infra/up.sh started, e.g. `infra/rabbitmqctl.sh list_queues`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
source "$INGESTION_ROOT/infra/rabbitmq/env.sh"
rabbit_env
rabbitmqctl "$@"
