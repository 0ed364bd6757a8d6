-- A chunk's checkpoint never moves past its chunk's end: workers stop there (a text chunk at the line break that ends its
-- last record, a Parquet chunk at its last row), so no batch they commit does. A worker of a version before 0034 does not:
-- it reads a Parquet chunk (a range of rows) to the end of the file. In a fleet still rolling out with
-- Processing:ChunkParquet on, or rolled back, such a worker's batch past its chunk's end now fails and rolls back, its rows
-- with its checkpoint, instead of committing the later chunks' rows a second time; the error faults its job, which fails
-- with the message below, to be retried once every worker is new.
--
-- A trigger rather than a check constraint: it looks only at a checkpoint that moves, so rows an old worker may have left
-- past their end before this migration do not make every later update of them fail (a job's halt, a staged chunk's apply).
create or replace function ingestion.upload_chunk_within_range() returns trigger language plpgsql as $$
begin
    raise exception using
        errcode = 'check_violation',
        constraint = 'upload_chunks_within_range',
        message = format('Chunk %s of job %s cannot move to %s, past its end (%s): a worker older than migration 0034 '
            'read a Parquet chunk past its end. Nothing of its batch is committed; retry the job once every worker is '
            'upgraded, or set Processing:ChunkParquet to false while old workers run.',
            new.chunk, new.job_id, new.byte_offset, new.end_offset);
end
$$;

drop trigger if exists upload_chunks_within_range on ingestion.upload_chunks;
create trigger upload_chunks_within_range before update of byte_offset on ingestion.upload_chunks
    for each row when (new.byte_offset > new.end_offset and new.byte_offset <> old.byte_offset)
    execute function ingestion.upload_chunk_within_range();
