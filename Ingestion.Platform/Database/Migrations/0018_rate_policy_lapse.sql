-- The policies a budget key is judged by belong to the sources that declare them. Each row is one
-- policy of one source, with the budget key the source draws from: a source's POST or PUT replaces
-- its rows (Platform/Sources/SourceCatalog.cs), and deleting the source deletes them. A policy so
-- lives exactly as long as a source declares it, however seldom that source syncs: a source allowed
-- 1000 requests an hour that syncs daily still holds the other sources on its credential to that.
-- What the upstream's headers revealed (rate_budgets.learned_*) is not declared by anyone, so it
-- lapses instead: it stops counting once no response has said it for its window and a margin.
create table ingestion.rate_policies (
    tenant_id   text not null,
    source_name text not null,
    budget_key  text not null,
    requests    int  not null check (requests > 0),
    per_seconds int  not null check (per_seconds > 0),
    primary key (tenant_id, source_name, requests, per_seconds),
    foreign key (tenant_id, source_name) references ingestion.sources (tenant_id, name) on delete cascade
);

create index rate_policies_budget_key on ingestion.rate_policies (budget_key);

insert into ingestion.rate_policies (tenant_id, source_name, budget_key, requests, per_seconds)
select s.tenant_id, s.name, s.budget_key, (p ->> 'requests')::int, (p ->> 'perSeconds')::int
from ingestion.sources s, jsonb_array_elements(s.definition -> 'rateLimit' -> 'policies') p
where (p ->> 'requests')::int > 0 and (p ->> 'perSeconds')::int > 0
on conflict do nothing;

alter table ingestion.rate_budgets drop column known_policies;

alter table ingestion.rate_budgets add column learned_at timestamptz;
update ingestion.rate_budgets set learned_at = updated_at where learned_requests is not null;
