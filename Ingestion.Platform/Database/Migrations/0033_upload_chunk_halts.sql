-- A job loaded in chunks that fails or is cancelled halts its chunks before its counts are read: every
-- chunk row is locked (in chunk order, the order every batch and eviction takes them) and marked with the
-- attempt that ended, so a batch open elsewhere commits first and no batch of that attempt commits after.
-- A retry is a later attempt: its chunks load again from their checkpoints.
alter table ingestion.upload_chunks add column if not exists halted_attempt integer;
