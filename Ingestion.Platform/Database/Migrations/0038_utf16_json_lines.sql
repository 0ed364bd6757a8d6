-- JSON Lines in UTF-16 (known by its byte order mark) is read from this version on, transcoded to UTF-8 as a UTF-16 CSV
-- is; a worker from before refused it, and one still running in a fleet that is rolling out (or rolled back) would read
-- such a file's bytes as UTF-8 text if it took a slice of it, a chunk, or the rest of its chunk scan (and reject every
-- line), or read a chunk's keys to evict it. The checkpoint says the file is one (utf16_json), and only a worker that
-- reads it moves a slice's or a chunk's offset forward, evicts a chunk or records one: each of its statements that does
-- sets ingestion.text_reader for its transaction. (The join's end of a chunked file reads no text and is not fenced.)
alter table ingestion.upload_checkpoints add column if not exists utf16_json boolean not null default false;

create or replace function ingestion.upload_utf16_json_reader() returns trigger language plpgsql as $$
begin
    if current_setting('ingestion.text_reader', true) is distinct from 'utf16'
       and (tg_table_name = 'upload_checkpoints'
            or exists (select from ingestion.upload_checkpoints where job_id = new.job_id and utf16_json)) then
        raise exception using
            errcode = 'check_violation',
            constraint = 'upload_utf16_json_reader',
            message = format('Job %s is a JSON Lines file in UTF-16, which a worker older than migration 0038 reads as UTF-8 '
                'and rejects line by line. Nothing of its batch, eviction or scan is committed; retry the job once every worker is '
                'upgraded.', new.job_id);
    end if;

    return new;
end
$$;

drop trigger if exists upload_checkpoints_utf16_json_reader on ingestion.upload_checkpoints;
create trigger upload_checkpoints_utf16_json_reader before update of byte_offset on ingestion.upload_checkpoints
    for each row when (new.utf16_json and new.chunk_bytes is null and new.byte_offset > old.byte_offset)
    execute function ingestion.upload_utf16_json_reader();

-- Only a compressed file's chunks can be UTF-16 text (a plain UTF-16 file is one stream): those have object_end.
drop trigger if exists upload_chunks_utf16_json_reader on ingestion.upload_chunks;
create trigger upload_chunks_utf16_json_reader before update of byte_offset, evictions on ingestion.upload_chunks
    for each row when (new.object_end is not null and (new.byte_offset > old.byte_offset or new.evictions <> old.evictions))
    execute function ingestion.upload_utf16_json_reader();

drop trigger if exists upload_chunks_utf16_json_scan on ingestion.upload_chunks;
create trigger upload_chunks_utf16_json_scan before insert on ingestion.upload_chunks
    for each row when (new.object_end is not null)
    execute function ingestion.upload_utf16_json_reader();
