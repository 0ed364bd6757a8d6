-- A compressed upload (gzip, zstd) is read through a decompressor: its checkpoint's byte_offset
-- counts uncompressed bytes (where a resume skips to), which say nothing of how much of the
-- object was read. compressed_read is that: the object's bytes read up to the last committed
-- batch, the honest measure of progress against bytes_total. Null for an uncompressed object.
alter table ingestion.upload_checkpoints
    add column compressed_read bigint;
