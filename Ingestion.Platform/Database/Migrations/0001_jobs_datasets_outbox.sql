-- Datasets: the tables uploads load into. Each tenant's tables live in its own schema;
-- this catalog records what each table is (typed columns, key, load policy).
create table ingestion.datasets (
    tenant_id   text        not null,
    name        text        not null,
    definition  jsonb       not null,
    created_at  timestamptz not null default now(),
    primary key (tenant_id, name)
);

-- Jobs: one row per job, the saga instance of its state machine. The columns are what
-- is queried and locked; `data` is the whole instance as the state machine sees it.
create table ingestion.jobs (
    job_id           uuid        primary key,
    kind             text        not null,
    tenant_id        text        not null,
    current_state    text        not null,
    version          integer     not null,
    dataset          text,
    idempotency_key  text,
    created_at       timestamptz not null,
    updated_at       timestamptz not null,
    data             jsonb       not null
);

create unique index jobs_idempotency_key on ingestion.jobs (tenant_id, idempotency_key)
    where idempotency_key is not null;
create index jobs_tenant_newest on ingestion.jobs (tenant_id, created_at desc, job_id desc);
create index jobs_state on ingestion.jobs (current_state, updated_at);

-- Outbox: messages recorded in the same transaction as the state they announce, and
-- relayed to RabbitMQ from here, so an accepted job is never lost to a broker outage.
create table ingestion.outbox (
    id            bigint      generated always as identity primary key,
    message_type  text        not null,
    body          jsonb       not null,
    created_at    timestamptz not null default now()
);
