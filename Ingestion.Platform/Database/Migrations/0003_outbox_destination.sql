-- Commands go to their queue (sent), events to whoever subscribes (published). A sent
-- command waits in its durable queue even when no worker has ever run yet; a published
-- one would be dropped by an exchange with nothing bound to it.
alter table ingestion.outbox add column destination text;
