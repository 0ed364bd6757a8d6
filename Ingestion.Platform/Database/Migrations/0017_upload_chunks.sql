-- A large upload is loaded as chunks, byte ranges that start and end at record boundaries,
-- by several workers at once (fork/join). The job's checkpoint row becomes the plan: how far
-- the boundary scan has read (so a killed scan resumes), whether it is done, and for a keyed
-- dataset how many chunks have been applied to the table in file order.
alter table ingestion.upload_checkpoints
    add column chunk_bytes     bigint,                        -- null: one chunk, loaded as before
    add column scanned_offset  bigint,                        -- the boundary scan's next start
    add column scanned_line    bigint,
    add column scan_done       boolean not null default false,
    add column applied_chunks  integer not null default 0;    -- keyed datasets: chunks applied, in order

-- One row per chunk: its range, its own checkpoint (moved in the transaction that commits each
-- of its batches, as the job's is for a one-chunk load), its counts and attempts.
--   pending: found by the scan, not yet sent; sent: its ProcessUpload is in the outbox or queue;
--   loaded: its rows are staged (keyed datasets), waiting for the chunks before it; done.
create table ingestion.upload_chunks (
    job_id         uuid        not null,
    chunk          integer     not null,
    start_offset   bigint      not null,   -- the line break that ends the record before the chunk
    end_offset     bigint      not null,   -- exclusive: the line break that ends its last record
    start_line     bigint      not null,
    byte_offset    bigint      not null,   -- end of its last committed record
    line           bigint      not null,
    rows_loaded    bigint      not null default 0,
    rows_rejected  bigint      not null default 0,
    state          text        not null default 'pending'
                   check (state in ('pending', 'sent', 'loaded', 'done')),
    attempts       integer     not null default 0,
    sent_attempt   integer     not null default 0,   -- the job attempt its message was last sent for
    updated_at     timestamptz not null default now(),
    primary key (job_id, chunk)
);
