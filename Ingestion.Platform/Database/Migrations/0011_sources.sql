-- Sources: each tenant's declared HTTP APIs that sync jobs pull into datasets. The definition
-- is data (Platform/Sources/SourceDefinition.cs); the credential's secret is kept apart,
-- sealed with AES-GCM under Sources:SecretKey, and never returned. budget_key names the
-- shared rate budget the source's credential draws from (an HMAC, not the secret).
create table ingestion.sources (
    tenant_id   text        not null,
    name        text        not null,
    definition  jsonb       not null,
    secret      bytea,
    budget_key  text        not null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    primary key (tenant_id, name)
);
