-- The keys a sync found already loaded (seed 004's 3,000,003 versus 3,000,000): the reconciliation
-- counts every such record (sync_partitions.duplicates); this table names the keys behind the count,
-- the first 100 of a job (SyncDuplicates.MaxKeys) with how many times each was seen again and where
-- (partition, page, record number; the first 10 places). Written by the page's loader in the
-- transaction that moves the partition's checkpoint, so a page loaded again after a crash counts
-- its keys once. Deleted with the job (retention).
create table ingestion.sync_duplicate_keys (
    job_id   uuid   not null,
    key      jsonb  not null,
    times    bigint not null,
    places   jsonb  not null,
    first_place bigint not null,
    primary key (job_id, key)
);
