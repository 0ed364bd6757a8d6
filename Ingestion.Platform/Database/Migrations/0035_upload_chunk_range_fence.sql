-- A chunk's checkpoint never passes its chunk's end: workers stop there (a text chunk at the line break that ends its last
-- record, a Parquet chunk at its last row), so this holds for every batch they commit. A worker of a version before 0034
-- does not: it reads a Parquet chunk (a range of rows) to the end of the file. In a fleet still rolling out, or rolled
-- back, such a worker's batch past its chunk's end now fails and rolls back, its rows with its checkpoint, and the chunk is
-- loaded by a current worker from where it stopped, instead of committing the later chunks' rows a second time. Existing
-- rows are not scanned (not valid): every row written since 0017 is within its range.
do $$
begin
    if not exists (select 1 from pg_constraint
                   where conname = 'upload_chunks_within_range' and conrelid = 'ingestion.upload_chunks'::regclass) then
        alter table ingestion.upload_chunks
            add constraint upload_chunks_within_range check (byte_offset <= end_offset) not valid;
    end if;
end
$$;
