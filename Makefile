# The two commands: `make run` and `make test`. Everything they need is installed and
# started by infra/ (PostgreSQL, RabbitMQ, an S3 server) on loopback, data under .data/.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CONFIGURATION ?= Release
ENV := source infra/env.sh &&
ROWS ?= 5000000
WORKERS ?= 1
# The bench chunks at 64 MiB, the service's Processing__ChunkBytes default (CHUNK_BYTES=1099511627776: one stream).
CHUNK_BYTES ?= 67108864
FORMAT ?= csv
ROW_GROUP_ROWS ?= 100000
# The bench's workers run upload jobs only (Workers:Jobs), as the workers a deployment gives large files; all: every kind.
WORKER_JOBS ?= upload
LINES ?= 100000
REJECTS ?= 10000
MINUTES ?= 10
EVENTS ?= 3000000

.PHONY: help
help:
	@echo "make run          start everything and load a sample CSV end to end"
	@echo "make test         run all tests against real PostgreSQL, RabbitMQ and S3"
	@echo "make stop         stop the API and workers started by make run"
	@echo "make infra-up     start PostgreSQL, RabbitMQ and the S3 server"
	@echo "make infra-down   stop them (data is kept in .data/)"
	@echo "make pack         Ingestion.Contracts as a NuGet package, into artifacts/"
	@echo "make accept-contracts  rewrite the pinned contract snapshot after a deliberate, versioned change"
	@echo "make bench-upload          stream a 2 GB file through the API"
	@echo "make bench-ingest ROWS=N [WORKERS=N] [CHUNK_BYTES=N] [FORMAT=csv.gz|csv.zst|parquet [ROW_GROUP_ROWS=N]] [WORKER_JOBS=upload|all]  load an N-row CSV (or the same rows compressed, or as Parquet) from S3 (in chunks across N workers), compared with psql \\copy"
	@echo "make bench-statement LINES=N  render an N-line statement"
	@echo "make bench-progress        50 jobs watched by 200 SSE clients: delivery delay percentiles"
	@echo "make bench-rejects REJECTS=N  N rejected records of 1 MiB each: the worker's peak RSS"
	@echo "make bench-read            5M transactions, open-loop reads at 2,000 req/s, a 10M-row CSV export vs psql"
	@echo "make bench-sync EVENTS=N   sync N events from the API simulator with two workers, against its rate-limit ceiling"
	@echo "make chaos MINUTES=10      jobs under random faults (workers killed, RabbitMQ nodes, PostgreSQL, cut links): nothing stranded, lost or doubled"

.PHONY: infra-up infra-down
infra-up:
	@bash infra/up.sh

infra-down:
	@bash infra/down.sh

.PHONY: build
build:
	dotnet build Ingestion.sln -c $(CONFIGURATION) -nologo -clp:ErrorsOnly

.PHONY: run
run: infra-up build
	@$(ENV) bash infra/run.sh $(CONFIGURATION)

.PHONY: stop
stop:
	@$(ENV) bash infra/run.sh $(CONFIGURATION) --stop

.PHONY: test
test: infra-up build
	@rm -f .data/test-results/tests.trx
	@$(ENV) dotnet test Ingestion.sln -c $(CONFIGURATION) --no-build -nologo \
		--logger "console;verbosity=normal" --logger "trx;LogFileName=tests.trx" \
		--results-directory .data/test-results \
		|| { bash infra/failed-tests.sh .data/test-results/tests.trx; exit 1; }

.PHONY: bench-upload bench-ingest bench-statement bench-progress bench-rejects
bench-upload: infra-up build
	@$(ENV) dotnet bench/Ingestion.Bench/bin/$(CONFIGURATION)/net10.0/Ingestion.Bench.dll upload --bytes 2147483648

bench-ingest: infra-up build
	@$(ENV) dotnet bench/Ingestion.Bench/bin/$(CONFIGURATION)/net10.0/Ingestion.Bench.dll ingest --rows $(ROWS) --workers $(WORKERS) --chunk-bytes $(CHUNK_BYTES) --format $(FORMAT) --row-group-rows $(ROW_GROUP_ROWS) --worker-jobs $(WORKER_JOBS)

bench-statement: infra-up build
	@$(ENV) dotnet bench/Ingestion.Bench/bin/$(CONFIGURATION)/net10.0/Ingestion.Bench.dll statement --lines $(LINES)

bench-progress: infra-up build
	@$(ENV) dotnet bench/Ingestion.Bench/bin/$(CONFIGURATION)/net10.0/Ingestion.Bench.dll progress --jobs 50 --clients 200

# The read API: sizes overridable, e.g. make bench-read READ_ARGS="--transactions 200000 --accounts 5000 --seconds 10 --export-rows 1000000"
READ_ARGS ?=
.PHONY: bench-read
bench-read: infra-up build
	@$(ENV) dotnet bench/Ingestion.Bench/bin/$(CONFIGURATION)/net10.0/Ingestion.Bench.dll read $(READ_ARGS)

# The end-to-end test at full size (REJECTS records of 1 MiB, generated while sent): one line, worker_peak_rss_mb=…
bench-rejects: infra-up build
	@$(ENV) INGESTION_HUGE_REJECTS=$(REJECTS) dotnet test Ingestion.sln -c $(CONFIGURATION) --no-build -nologo \
		--filter "FullyQualifiedName~When_rejected_records_are_huge" --logger "console;verbosity=normal" \
		> .data/bench-rejects.log 2>&1; status=$$?; \
		grep -o 'worker_peak_rss_mb=.*' .data/bench-rejects.log | tail -1; \
		[ $$status -eq 0 ] || echo "bench-rejects: tests failed, see .data/bench-rejects.log"; exit $$status

# The simulator (infra/simulator) serves EVENTS events in pages of 5,000 at 10 requests/s: a 50,000 events/s ceiling.
# More options through SYNC_ARGS, e.g. make bench-sync SYNC_ARGS="--margin-ms 5 --warm-up 0" (Program.cs lists them).
SYNC_ARGS ?=
.PHONY: bench-sync
bench-sync: infra-up build
	@$(ENV) dotnet bench/Ingestion.Bench/bin/$(CONFIGURATION)/net10.0/Ingestion.Bench.dll sync --events $(EVENTS) $(SYNC_ARGS)

# Not part of `make test`: it runs for MINUTES plus a grace period, on a three-node RabbitMQ
# cluster (infra/cluster.sh) and a PostgreSQL of its own (infra/chaos-postgres.sh). Logs in .data/chaos/.
.PHONY: chaos
chaos: infra-up build
	@$(ENV) dotnet bench/Ingestion.Bench/bin/$(CONFIGURATION)/net10.0/Ingestion.Bench.dll chaos --minutes $(MINUTES)

# Ingestion.Contracts as a NuGet package for other services, into artifacts/ (the version is the
# project's VersionPrefix; VERSION_SUFFIX=rc.1 makes a pre-release). See README, "From another service".
VERSION_SUFFIX ?=
.PHONY: pack
pack:
	dotnet pack Ingestion.Contracts/Ingestion.Contracts.csproj -c $(CONFIGURATION) -nologo -o artifacts \
		$(if $(VERSION_SUFFIX),--version-suffix $(VERSION_SUFFIX))
	@ls -1 artifacts/Ingestion.Contracts.*.nupkg

# Rewrites the contracts' pinned shapes (Ingestion.Tests/Unit/Contracts.snapshot.txt) after a
# deliberate, versioned change to Ingestion.Contracts; review the diff before committing it.
.PHONY: accept-contracts
accept-contracts: build
	@$(ENV) INGESTION_ACCEPT_CONTRACTS=1 dotnet test Ingestion.Tests/Ingestion.Tests.csproj -c $(CONFIGURATION) --no-build -nologo \
		--filter "FullyQualifiedName~Contract_shapes"
	@git diff --stat -- Ingestion.Tests/Unit/Contracts.snapshot.txt

.PHONY: clean
clean:
	dotnet clean Ingestion.sln -nologo -v q
