-- A file converted from another encoding (UTF-16, Windows-1252, ISO-8859-1) is read as UTF-8 text whose offsets (where a
-- resume skips to) are not the object's bytes: a UTF-16 file's text is about half as long in UTF-8, a Windows-1252 file's
-- with accents a little longer. Its compressed_read now counts the object's bytes read, as a compressed file's does, so
-- that progress ends at bytes_total; converted says the object is not compressed all the same, so that no uncompressed
-- size is shown for it. False for the checkpoints of workers before this migration, which never counted such a file;
-- a new worker that carries on such a checkpoint of a converted file sets it.
alter table ingestion.upload_checkpoints add column if not exists converted boolean not null default false;
