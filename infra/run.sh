#!/usr/bin/env bash
# `make run`: starts the API and the workers (built in $1, Development settings, so the
# dev tenants and keys of appsettings.Development.json apply), uploads a generated sample
# CSV with a few bad rows, waits for its job and prints the outcome; then registers a source
# on the API simulator, runs one sync and prints its outcome. They keep running afterwards;
# `make stop` stops them.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
configuration=${1:-Release}
api_port=${INGESTION_API_PORT:-8080}
workers_port=${INGESTION_WORKERS_PORT:-8081}
# Health checks and /metrics: each host's management port, apart from the API.
api_management_port=${INGESTION_API_MANAGEMENT_PORT:-9080}
workers_management_port=${INGESTION_WORKERS_MANAGEMENT_PORT:-9081}
api="http://127.0.0.1:$api_port"
key=${INGESTION_DEMO_KEY:-dev-acme-key-0123456789}

log() { printf '[run] %s\n' "$*"; }
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop() {
  for name in api workers; do
    local pidfile=$INGESTION_PID_DIR/$name.pid
    if pid_alive "$pidfile"; then
      log "stopping $name (pid $(cat "$pidfile"))"
      kill -TERM "$(cat "$pidfile")"
      for _ in $(seq 100); do pid_alive "$pidfile" || break; sleep 0.1; done
    fi
    rm -f "$pidfile"
  done
}

start() {
  local name=$1 project=$2 port=$3 management_port=$4 pidfile=$INGESTION_PID_DIR/$1.pid
  if pid_alive "$pidfile"; then
    log "$name already running (pid $(cat "$pidfile"))"
    return
  fi
  log "starting $name on port $port, management on $management_port (log: $INGESTION_LOG_DIR/$name.log)"
  MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" DOTNET_JitHostMaxSlabCache="${DOTNET_JitHostMaxSlabCache:-0x100000}" \
  ASPNETCORE_ENVIRONMENT=Development Urls="http://127.0.0.1:$port" Management__Urls="http://127.0.0.1:$management_port" \
    nohup dotnet "$INGESTION_ROOT/$project/bin/$configuration/net10.0/$project.dll" \
    >>"$INGESTION_LOG_DIR/$name.log" 2>&1 &
  echo $! >"$pidfile"
}

wait_ready() {
  local name=$1 url=$2
  for _ in $(seq 120); do
    curl -sf "$url/health/ready" >/dev/null && return 0
    pid_alive "$INGESTION_PID_DIR/$name.pid" || { tail -n 30 "$INGESTION_LOG_DIR/$name.log"; log "$name exited"; exit 1; }
    sleep 0.5
  done
  log "$name is not ready after 60s; see $INGESTION_LOG_DIR/$name.log"
  exit 1
}

if [ "${2:-}" = "--stop" ]; then stop; exit 0; fi

mkdir -p "$INGESTION_PID_DIR" "$INGESTION_LOG_DIR"
start workers Ingestion.Workers "$workers_port" "$workers_management_port"
start api Ingestion.Api "$api_port" "$api_management_port"
wait_ready workers "http://127.0.0.1:$workers_management_port"
wait_ready api "http://127.0.0.1:$api_management_port"

# 10,000 transactions over 20 accounts, with a handful of rows that must be rejected.
sample=$INGESTION_DATA/sample-transactions.csv
awk 'BEGIN {
  srand(42)
  print "transaction_id,account_id,occurred_at,amount,currency,merchant,category,description"
  split("groceries,travel,rent,salary,restaurants,utilities", cat, ",")
  split("Migros,SBB,Coop,Łódź Café,Αθήνα Books,Zürich Bäckerei", shop, ",")
  for (i = 1; i <= 10000; i++) {
    amount = sprintf("%.2f", (rand() * 400) - 300)
    day = 1 + (i % 28); month = 1 + (i % 12)
    row = sprintf("%08x-%04x-4%03x-8%03x-%012x,%d,2026-%02d-%02dT%02d:%02d:00Z,%s,CHF,%s,%s,\"Payment %d, ref \"\"%d\"\"\"",
      systime() % 4294967296, i % 65536, i % 4096, (i * 7) % 4096, i, 1000 + (i % 20), month, day, i % 24, i % 60,
      amount, shop[1 + i % 6], cat[1 + i % 6], i, i)
    if (i % 2000 == 0) row = sprintf("not-a-uuid,%d,2026-01-01T00:00:00Z,1.00,CHF,,,bad id", 1000 + (i % 20))
    if (i % 2500 == 0) row = sprintf("%08x-0000-4000-8000-%012x,1001,yesterday,1.00,CHF,,,bad date", i, i)
    print row
  }
}' >"$sample"
log "uploading $(wc -l <"$sample") lines ($(du -h "$sample" | cut -f1)) to the transactions dataset of tenant acme"

response=$(curl -sS -X POST "$api/v1/datasets/transactions/uploads" -H "X-Api-Key: $key" \
  -H "Content-Type: text/csv" -H "Idempotency-Key: sample-$(date +%s%N)" --data-binary @"$sample")
job=$(jq -r '.jobId // empty' <<<"$response")
[ -n "$job" ] || { log "upload refused: $response"; exit 1; }
log "accepted: job $job"

status=""
for _ in $(seq 600); do
  body=$(curl -sS "$api/v1/jobs/$job" -H "X-Api-Key: $key")
  status=$(jq -r .status <<<"$body")
  case "$status" in completed | failed) break ;; esac
  sleep 0.5
done

jq '{jobId, status, dataset, bytes, sha256, progress, error, rejects}' <<<"$body"
if [ "$status" = completed ] || [ "$status" = failed ]; then
  log "job $status: $(jq -r '"\(.progress.rowsLoaded) rows loaded, \(.progress.rowsRejected) rejected"' <<<"$body")"
  jq -r '.rejects.url // empty' <<<"$body" | sed 's/^/[run] rejects file: /'
else
  log "job is still $status after 5 minutes"
fi
# A source on the API simulator (infra/simulator, started by infra/up.sh): 20,000 of its events,
# in pages of 1,000 at 10 requests a second, into the events dataset, by one sync job.
sim="http://127.0.0.1:$INGESTION_SIM_PORT"
curl -sSf -X POST "$sim/_sim/config" -H 'Content-Type: application/json' \
  -d '{"events":20000,"policies":{"header":[{"requests":10,"perSeconds":1}]}}' >/dev/null
send() { curl -sS -o /dev/null -w '%{http_code}' -X "$1" "$api$2" -H "X-Api-Key: $key" -H 'Content-Type: application/json' -d "$3"; }
code=$(send POST /v1/datasets '{"name":"events","key":["id"],"onKeyConflict":"upsert","columns":[
  {"name":"id","type":"uuid"},{"name":"type","type":"text","required":true},
  {"name":"occurred_at","type":"timestamptz","required":true},{"name":"user_id","type":"text"},
  {"name":"session_id","type":"text"},{"name":"value","type":"numeric(12,2)"}]}')
case "$code" in 201 | 409) ;; *) log "the events dataset was refused ($code)"; exit 1 ;; esac
source_body='{"name":"events_api","dataset":"events",
  "request":{"baseUrl":"'"$sim"'","path":"/v1/events"},
  "auth":{"in":"header","name":"Authorization","prefix":"Bearer ","secret":"sim-key"},
  "pagination":{"style":"cursor","cursorPath":"$.meta.next_cursor","cursorParameter":"cursor",
    "hasMorePath":"$.meta.has_more","limitParameter":"limit","pageSize":1000},
  "records":{"path":"$.data","totalPath":"$.meta.total","fields":{"id":"$.id","type":"$.type",
    "occurred_at":"$.timestamp","user_id":"$.user.id","session_id":"$.session_id","value":"$.value"}},
  "rateLimit":{"policies":[{"requests":10,"perSeconds":1}]},
  "incremental":{"column":"occurred_at","sinceParameter":"since","untilParameter":"until","format":"iso8601"}}'
code=$(send PUT /v1/sources/events_api "$source_body")
[ "$code" = 404 ] && code=$(send POST /v1/sources "$source_body")
case "$code" in 200 | 201) log "source events_api registered on the simulator at $sim" ;; *) log "the source was refused ($code)"; exit 1 ;; esac

response=$(curl -sS -X POST "$api/v1/sources/events_api/syncs" -H "X-Api-Key: $key" -H 'Content-Type: application/json' \
  -H "Idempotency-Key: sample-sync-$(date +%s%N)" -d '{"mode":"full"}')
job=$(jq -r '.jobId // empty' <<<"$response" 2>/dev/null || true)
if [ -z "$job" ]; then
  log "no sync started: $response"
else
  log "sync accepted: job $job"
  for _ in $(seq 600); do
    body=$(curl -sS "$api/v1/jobs/$job" -H "X-Api-Key: $key")
    status=$(jq -r .status <<<"$body")
    case "$status" in synced | failed | cancelled) break ;; esac
    sleep 0.5
  done
  jq '{jobId, status, dataset, progress, error}' <<<"$body"
  log "sync $status; the simulator counted $(curl -sS "$sim/_sim/stats" | jq -r '"\(.requests) requests, \(.http429) answered 429, \(.over_policy) beyond its policy"')"
fi
log "API on $api (key $key); health and metrics on :$api_management_port (API) and :$workers_management_port (workers); \`make stop\` stops them"
