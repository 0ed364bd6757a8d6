-- A compressed file (gzip, zstd) is cut into chunks at offsets of its decompressed text: each chunk decompresses the object
-- from its start and skips the text before its own. The scan records where in the object each chunk's text ends, as far as
-- the decompressor had read when it found the chunk's last line break, so that the job's progress can count the object's
-- (compressed) bytes as its chunks load: a chunk half loaded has read about half of its part of the object. Null for the
-- chunks of a plain file (their offsets are the object's) and of a Parquet file (whose progress is told by rows).
alter table ingestion.upload_chunks add column if not exists object_start bigint;
alter table ingestion.upload_chunks add column if not exists object_end bigint;

-- A worker of a version before this migration reads a chunk's byte range of the object itself, as plain text: given a
-- compressed file's chunk, it would load the compressed bytes as rows (or reject them all), or read keys from them to evict
-- another chunk; and carrying on a compressed file's scan, it would cut the compressed bytes at arbitrary offsets. So:
--
-- * Current workers move a chunk's checkpoint forward, or evict a chunk, with ingestion.chunk_reader set to 'decompresses'
--   for their transaction (UploadChunk.AdvanceAsync, ChunkEviction). An older worker's batch or eviction on a compressed
--   file's chunk (object_end set) is refused and rolls back with its rows. An eviction moves a checkpoint back, a halt and
--   an apply leave it where it is: only a move forward, or a new eviction, is looked at.
-- * A chunk recorded without object_end for a compressed file's plan (chunk_bytes and compressed_read set, no rows_total: what
--   Checkpoint.CompressedChunks reads; compressed_read is set at 0 when the plan is made) is an older worker's scan:
--   refused, nothing of that scan turn is recorded.
--
-- The error faults the older worker's job, which fails with the message below, to be retried once every worker is new. (An
-- older worker may also fail before it gets here: its ranged GET of a text offset past the object's size is a 416.)
create or replace function ingestion.upload_chunk_compressed_reader() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        if new.object_end is null
           and exists (select from ingestion.upload_checkpoints where job_id = new.job_id and chunk_bytes is not null
                       and compressed_read is not null and rows_total is null) then
            raise exception using
                errcode = 'check_violation',
                constraint = 'upload_chunks_compressed_reader',
                message = format('Job %s is a compressed file cut in its text, whose chunks a worker older than migration 0037 '
                    'cannot find: it scans the compressed bytes as text. Nothing of its scan is recorded; retry the job once '
                    'every worker is upgraded. Until then, Processing:ChunkCompressed=false keeps new compressed files in one stream.', new.job_id);
        end if;
    elsif current_setting('ingestion.chunk_reader', true) is distinct from 'decompresses' then
        raise exception using
            errcode = 'check_violation',
            constraint = 'upload_chunks_compressed_reader',
            message = format('Chunk %s of job %s is a part of a compressed file''s text, which a worker older than migration 0037 '
                'cannot read: it reads the compressed bytes as text. Nothing of its batch is committed; retry the job once every '
                'worker is upgraded. Until then, Processing:ChunkCompressed=false keeps new compressed files in one stream.', new.chunk, new.job_id);
    end if;

    return new;
end
$$;

drop trigger if exists upload_chunks_compressed_reader on ingestion.upload_chunks;
create trigger upload_chunks_compressed_reader before update of byte_offset, evictions on ingestion.upload_chunks
    for each row when (new.object_end is not null and (new.byte_offset > old.byte_offset or new.evictions <> old.evictions))
    execute function ingestion.upload_chunk_compressed_reader();

drop trigger if exists upload_chunks_compressed_scan on ingestion.upload_chunks;
create trigger upload_chunks_compressed_scan before insert on ingestion.upload_chunks
    for each row when (new.object_end is null)
    execute function ingestion.upload_chunk_compressed_reader();
