-- Each declared policy carries its source's margin (rateLimit.marginMilliseconds): what a window is
-- widened by for the time between a request leaving a worker and the upstream counting it (the
-- network, the upstream's own queue). An upstream across the internet needs more than one on the same
-- network. The margin is about the way to the upstream, not about one policy: every policy on a budget
-- key is judged with the widest margin a source on the key declares. Rows written before this column
-- keep the margin every source had then, 25 ms.
alter table ingestion.rate_policies add column margin_ms int not null default 25 check (margin_ms between 0 and 1000);
