-- When a worker last showed that a job's work is alive without changing the job (a slice
-- that took the job's lock, a job waiting for its tenant's slot), or the reaper last sent its
-- work again. The reaper leaves a job alone while this or updated_at is recent.
alter table ingestion.jobs add column heartbeat_at timestamptz;
