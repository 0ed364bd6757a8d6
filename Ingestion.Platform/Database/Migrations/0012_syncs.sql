-- Sync jobs (the third job kind). A sync works through partitions: one for a plain sync, one
-- per time slice for a partitioned history. Each partition's row is its checkpoint: where the
-- next page is (cursor, next link, page number or offset), the time range it asks for, the
-- high- and low-water marks of what it has committed, and its counts. A page's rows and this
-- row move in one transaction, so a crash resumes after the last committed page.
create table ingestion.sync_partitions (
    job_id         uuid        not null,
    partition      int         not null,
    since          timestamptz,
    until          timestamptz,
    next_page      text,
    started        boolean     not null default false,
    finished       boolean     not null default false,
    high_water     timestamptz,
    low_water      timestamptz,
    descending     boolean,
    pages          bigint      not null default 0,
    requests       bigint      not null default 0,
    records        bigint      not null default 0,
    loaded         bigint      not null default 0,
    duplicates     bigint      not null default 0,
    rejects        bigint      not null default 0,
    http_429       bigint      not null default 0,
    cursor_resumes int         not null default 0,
    expected_total bigint,
    updated_at     timestamptz not null default now(),
    primary key (job_id, partition)
);

-- The shared rate budget of a credential (a source's BudgetKey), kept here so that every worker
-- draws from one. Each request is a grant; a policy "R requests in any W seconds" admits a
-- request only while fewer than R grants are younger than W (a sliding log, exact whatever the
-- number of workers: grants are taken under a transaction lock per budget). blocked_until is
-- what the upstream said (Retry-After, a spent X-RateLimit-Remaining): nobody asks before it.
-- learned_* is a tighter limit the upstream revealed than the one declared.
create table ingestion.rate_budgets (
    budget_key      text        primary key,
    blocked_until   timestamptz,
    learned_requests int,
    learned_seconds  int,
    updated_at      timestamptz not null default now()
);

create table ingestion.rate_grants (
    budget_key text        not null,
    at         timestamptz not null
);
create index rate_grants_key_at on ingestion.rate_grants (budget_key, at);
