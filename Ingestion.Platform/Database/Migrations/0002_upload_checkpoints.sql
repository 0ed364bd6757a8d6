-- Where each upload job stands. A batch of rows commits in the same transaction as the
-- move of its checkpoint, so after any crash the table and the checkpoint agree: the next
-- attempt resumes at byte_offset with a ranged GET, and nothing is loaded twice.
create table ingestion.upload_checkpoints (
    job_id          uuid        primary key,
    etag            text,                      -- the object read; a different object fails the job
    header          text[]      not null,      -- the file's header, as read at the start
    bytes_total     bigint      not null,
    byte_offset     bigint      not null,      -- end of the last committed record
    line            bigint      not null,      -- line on which that record ends
    rows_loaded     bigint      not null default 0,
    rows_rejected   bigint      not null default 0,
    finished_at     timestamptz,
    rejects_key     text,
    updated_at      timestamptz not null default now()
);

-- Rows that were not loaded, committed with their batch, so the rejects file lists each
-- exactly once whatever crashed. Written out to S3 as a CSV when the job ends.
create table ingestion.upload_rejects (
    job_id       uuid    not null,
    line         bigint  not null,
    column_name  text,
    reason       text    not null,
    raw          bytea   not null,
    primary key (job_id, line)
);
