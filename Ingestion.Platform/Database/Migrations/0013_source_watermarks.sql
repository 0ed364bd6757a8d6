-- Where a source's next incremental sync starts: the upper bound of the last range a sync of the
-- source completed, everything below it fetched. Not max() of the dataset's column: a failed or
-- cancelled newest-first sync commits its newest pages first and leaves older records unfetched,
-- and the dataset may hold rows of other sources or uploads. A source deleted forgets its mark.
create table ingestion.source_watermarks (
    tenant_id  text        not null,
    source     text        not null,
    mark       timestamptz not null,
    updated_at timestamptz not null default now(),
    primary key (tenant_id, source),
    foreign key (tenant_id, source) references ingestion.sources (tenant_id, name) on delete cascade
);

-- Whether a sync job's completion moves its source's watermark, decided when the job is planned:
-- only when its range reaches down to the current mark (from the beginning, or a since at or
-- below it); a backfill of some other period proves nothing about what lies between. It moves to
-- the range's explicit until, else to the newest record time the job committed (the upstream's
-- clock, not ours).
create table ingestion.sync_marks (
    job_id    uuid        primary key,
    tenant_id text        not null,
    source    text        not null,
    advances  boolean     not null,
    until     timestamptz
);

-- Every policy ever declared on a budget key (sources sharing one credential may declare different
-- ones): each grant is judged by all of them, and grants are kept for the longest window among
-- them, so one source's short window never deletes the history another's longer window counts.
alter table ingestion.rate_budgets add column known_policies jsonb not null default '[]';
