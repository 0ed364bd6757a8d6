-- The audit trail of every job: each transition of its state machine (with the job as it
-- was then, which is also what a reconnecting live client is replayed) and each operator
-- action, with who did it. Written in the transaction that made the change.
create table ingestion.job_events (
    id          bigint      generated always as identity primary key,
    job_id      uuid        not null,
    version     integer,                 -- the job's version after a transition; null for actions
    at          timestamptz not null default now(),
    type        text        not null,    -- 'transition' or 'action'
    from_state  text,
    to_state    text,
    what        text        not null,    -- the message or request behind it
    actor       text        not null,    -- tenant:<id>/key:<fingerprint>, ops/key:<fingerprint>, or system
    snapshot    jsonb
);

create index job_events_job on ingestion.job_events (job_id, id);

-- Webhooks owed: recorded with the transition that ends a job, sent when due, retried with
-- backoff, every attempt kept.
create table ingestion.webhook_deliveries (
    id               uuid        primary key,
    job_id           uuid        not null,
    tenant_id        text        not null,
    url              text        not null,
    payload          jsonb       not null,
    status           text        not null default 'pending',   -- pending, delivered, gave_up
    attempts         integer     not null default 0,
    next_attempt_at  timestamptz not null default now(),
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now()
);

create index webhook_deliveries_due on ingestion.webhook_deliveries (next_attempt_at) where status = 'pending';
create index webhook_deliveries_job on ingestion.webhook_deliveries (job_id);

create table ingestion.webhook_attempts (
    delivery_id  uuid        not null,
    attempt      integer     not null,
    at           timestamptz not null,
    status_code  integer,
    error        text,
    duration_ms  integer     not null,
    primary key (delivery_id, attempt)
);

-- Recurring tasks run once per period across all workers: the last run is recorded here,
-- checked and moved under a row lock.
create table ingestion.maintenance (
    task         text        primary key,
    last_run_at  timestamptz not null
);

-- The trace an outbox message belongs to, so the relay continues it.
alter table ingestion.outbox add column trace_parent text;
