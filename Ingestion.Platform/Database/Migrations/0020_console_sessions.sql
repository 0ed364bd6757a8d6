-- Sessions of the web console: an API key exchanged for a cookie, so the page never keeps the
-- key. Only the SHA-256 of the cookie's token is stored (a copy of this table signs no one in),
-- and the session names its key by the key's SHA-256, so a key removed from configuration ends
-- every session it opened at the next request.
create table ingestion.console_sessions (
    token_hash  bytea       primary key,
    key_hash    text        not null,
    actor       text        not null,
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null
);

create index console_sessions_expiry on ingestion.console_sessions (expires_at);
