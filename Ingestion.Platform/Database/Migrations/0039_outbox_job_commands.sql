-- The reaper leaves a stale job alone while a command for it still waits in the outbox (a kind no
-- worker runs yet, whose commands RabbitMQ refuses; a job's next turn parked until a time), and
-- looks that up for every stale job it finds. This index serves the lookup, on commands only
-- (events have no destination, and are most of the rows while RabbitMQ is away). The outbox holds
-- only what the relay has not sent yet, so the build is short.
create index if not exists outbox_job_commands on ingestion.outbox ((body ->> 'jobId')) where destination is not null;
