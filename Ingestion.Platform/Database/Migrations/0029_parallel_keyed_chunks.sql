-- A keyed dataset's chunks (reject policy) load straight into the table in parallel. A chunk that
-- committed first may hold a key an earlier line owns; the earlier chunk finds it by the row's
-- xmin, which names the batch, and so the chunk, that wrote it: each committed batch that loaded
-- rows records its transaction id here. A chunk found that way is evicted: its rows deleted by
-- these ids and the keys of its lines, its rejects by its line range, its checkpoint reset, and it
-- is loaded again.
create table ingestion.upload_chunk_batches (
    job_id     uuid    not null,
    chunk      integer not null,
    xid        xid8    not null,   -- pg_current_xact_id() of the batch: the xmin of its rows
    from_line  bigint  not null,   -- the batch's records start after this line
    to_line    bigint  not null,   -- and end on this one
    primary key (job_id, chunk, xid)
);

alter table ingestion.upload_chunks
    -- Moved by each eviction of the chunk: a batch begun before it does not commit.
    add column evictions integer not null default 0;

-- Whether a keyed job's chunks load in parallel (reject policy). Jobs in flight when this runs
-- began in the ordered mode and finish in it; every job recorded from now on starts parallel.
-- The job's first eviction ends it too (see ChunkPlan): from then on a keyed chunk ahead of its
-- turn is staged and applied in file order, as upsert jobs always are, since an eviction reads the
-- evicted chunk again and it loads twice.
alter table ingestion.upload_checkpoints add column parallel_chunks boolean not null default false;
alter table ingestion.upload_checkpoints alter column parallel_chunks set default true;
