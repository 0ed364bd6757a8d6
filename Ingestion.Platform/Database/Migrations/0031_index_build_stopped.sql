-- A worker that stops gracefully cancels its index build and records stopped_at: the next turn builds
-- again in its place without counting a start (a deployment is not a failure of the build). A column
-- of its own migration, not an edit of 0028: the migrator applies by version only, so a database that
-- already ran 0028 would never get it.
alter table ingestion.index_build_sessions add column if not exists stopped_at timestamptz;
