-- Failures an operator looked at and decided not to retry: they leave the failure groups.
-- Keyed by the failure's time too, so a job that is retried and fails again shows up again.
create table ingestion.archived_failures (
    job_id       uuid        not null,
    failed_at    timestamptz not null,
    archived_by  text        not null,
    archived_at  timestamptz not null default now(),
    primary key (job_id, failed_at)
);
