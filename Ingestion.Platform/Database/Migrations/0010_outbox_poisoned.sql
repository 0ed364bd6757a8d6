-- Outbox rows the relay cannot turn into a message (an unknown type, a body that does not
-- fit it, a bad destination): set aside with the reason, so the relay goes on with the rest
-- and an operator can see them, fix them and send them back (GET/POST /v1/ops/outbox).
create table ingestion.outbox_poisoned (
    id            bigint      primary key,
    message_type  text        not null,
    body          jsonb       not null,
    destination   text,
    trace_parent  text,
    created_at    timestamptz not null,
    poisoned_at   timestamptz not null default now(),
    error         text        not null
);
