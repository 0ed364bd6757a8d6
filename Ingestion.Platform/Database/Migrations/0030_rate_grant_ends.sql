-- A rate budget grant is an interval, not a moment: its request may leave anywhere from its slot (at)
-- to its end (ends: the slot plus the asking worker's uncertainty about PostgreSQL's clock and its
-- tolerance for a late wake-up), and it counts in every window that interval overlaps. A slot is
-- placed a window after the R-th latest end, so a request sent late within its grant still keeps
-- every policy, and the worker sends it instead of giving the slot up. Grants written before this
-- column (or by a worker that predates it) end at their slot.
alter table ingestion.rate_grants add column ends timestamptz;

create index rate_grants_key_ends on ingestion.rate_grants (budget_key, (coalesce(ends, at)));

-- Each grant has its own id: several grants may share a slot (every one placed at a pause's end), so a worker that
-- confirms, reads back or gives back its grant does it by id, never on another worker's grant at the same moment.
alter table ingestion.rate_grants add column id bigint generated always as identity primary key;

-- A grant a pause withdrew while its holder may already be sending it (its slot within RateBudget.ConfirmWithin of the
-- pause: the holder read it as there that recently and sends without asking again). It keeps counting to its end, as a
-- request sent; its holder deletes it when it lets the slot go instead.
alter table ingestion.rate_grants add column withdrawn boolean not null default false;
