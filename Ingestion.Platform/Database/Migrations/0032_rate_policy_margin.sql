-- Each declared policy carries its source's margin (rateLimit.marginMilliseconds): what a window is
-- widened by for the time between a request leaving a worker and the upstream counting it (the
-- network, the upstream's own queue). An upstream across the internet needs more than one on the same
-- network. Every policy on a budget key is judged with the margin of the source that declares it, so
-- the source that asks for the widest margin holds the others on the key to it. Rows written before
-- this column keep the margin every source had then, 25 ms.
alter table ingestion.rate_policies add column margin_ms int not null default 25 check (margin_ms between 0 and 1000);
