-- What a budget key remembers now lapses. A policy some source declared on the key is kept with the
-- last time a request declared it, and stops counting once nobody has declared it for longer than
-- its window (plus a margin): by then none of the grants it counted is inside its window any more,
-- so forgetting it changes nothing for the requests it judged, and a source deleted or given a new
-- policy no longer holds every other source on the credential to its old one for ever. A limit
-- learned from the upstream's headers lapses the same way after the last response that said it.
create table ingestion.rate_policies (
    budget_key  text        not null,
    requests    int         not null,
    per_seconds int         not null,
    declared_at timestamptz not null,
    primary key (budget_key, requests, per_seconds)
);

insert into ingestion.rate_policies (budget_key, requests, per_seconds, declared_at)
select b.budget_key, (p ->> 0)::int, (p ->> 1)::int, b.updated_at
from ingestion.rate_budgets b, jsonb_array_elements(b.known_policies) p
where jsonb_array_length(p) = 2 and (p ->> 0)::int > 0 and (p ->> 1)::int > 0
on conflict do nothing;

alter table ingestion.rate_budgets drop column known_policies;

alter table ingestion.rate_budgets add column learned_at timestamptz;
update ingestion.rate_budgets set learned_at = updated_at where learned_requests is not null;
