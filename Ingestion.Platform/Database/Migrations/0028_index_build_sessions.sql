-- Where an index build runs, so that no message is held while it does: the worker that starts
-- CREATE INDEX CONCURRENTLY records its PostgreSQL backend here and lets the message go; the job's
-- next turn, on any worker, reads this row to tell a build still running (the backend is alive and
-- active) from one whose worker died (the backend is gone). (pid, backend_start) names a backend:
-- a pid alone may be reused. `starts` counts the builds of the attempt, to bound the rebuilds; the
-- finishing worker records a failure PostgreSQL reported (error_code: its SQLSTATE).
create table ingestion.index_build_sessions (
    job_id uuid primary key references ingestion.jobs (job_id) on delete cascade,
    attempt int not null,
    starts int not null,
    backend_pid int not null,
    backend_start timestamptz not null,
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    error_code text,
    error_message text
);
