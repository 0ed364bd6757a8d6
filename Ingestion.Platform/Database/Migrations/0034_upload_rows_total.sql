-- A Parquet file's positions are rows, not bytes (its checkpoint and, loaded in chunks, its chunks' ranges are row
-- counts at row-group starts): the checkpoint keeps the file's row count, so that progress in bytes is the rows done
-- scaled to the object's size. Null for text files, whose positions are byte offsets.
alter table ingestion.upload_checkpoints add column if not exists rows_total bigint;
