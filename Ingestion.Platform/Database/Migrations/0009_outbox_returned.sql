-- A command RabbitMQ returns as unroutable (no queue is bound to its exchange yet: no worker of
-- its kind has started) stays in the outbox and is tried again after a growing pause; the relay
-- goes on with the rows behind it meanwhile.
alter table ingestion.outbox
    add column returned   int not null default 0,
    add column not_before timestamptz;
