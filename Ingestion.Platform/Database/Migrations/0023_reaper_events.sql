-- The ops console lists the reaper's latest re-drives (GET /v1/ops/stalled). Its rows are a tiny
-- part of job_events, which holds every transition of every job: a partial index on them alone
-- lets that listing read only them, newest first.
create index job_events_reaper on ingestion.job_events (id) where actor = 'reaper';
