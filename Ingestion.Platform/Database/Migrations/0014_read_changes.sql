-- Change counters of the read API: every batch a load commits bumps its dataset's counter
-- (and, for the built-in transactions, the counter of each account it touched) in the
-- batch's own transaction, so a counter moves exactly when readers can see new rows.
-- The read API's ETags are made of them. A missing row is version 0: never loaded.
-- rows_loaded adds up what loads committed (an upsert counts again): how large a table is,
-- for the read API's refusal of unindexed filters, without waiting for ANALYZE.
create table ingestion.dataset_changes (
    tenant_id   text        not null,
    dataset     text        not null,
    version     bigint      not null,
    rows_loaded bigint      not null default 0,
    changed_at  timestamptz not null default now(),
    primary key (tenant_id, dataset)
);

create table ingestion.account_changes (
    tenant_id   text        not null,
    account_id  bigint      not null,
    version     bigint      not null,
    changed_at  timestamptz not null default now(),
    primary key (tenant_id, account_id)
);

-- Datasets now declare their secondary indexes; the built-in transactions always had this one.
update ingestion.datasets
set definition = jsonb_set(definition, '{indexes}', '[["account_id", "occurred_at"]]')
where name = 'transactions' and not definition ? 'indexes';

-- Tables loaded before the counters existed: one version each, their size as last analyzed,
-- and every account of a transactions table known, so the account views find them.
do $$
declare
    d record;
begin
    for d in select tenant_id, name from ingestion.datasets loop
        if to_regclass(format('%I.%I', 'tenant_' || d.tenant_id, d.name)) is null then
            continue;
        end if;

        insert into ingestion.dataset_changes (tenant_id, dataset, version, rows_loaded)
        select d.tenant_id, d.name, 1, greatest(c.reltuples, 0)::bigint
        from pg_class c where c.oid = to_regclass(format('%I.%I', 'tenant_' || d.tenant_id, d.name))
        on conflict do nothing;

        if d.name = 'transactions' then
            execute format('insert into ingestion.account_changes (tenant_id, account_id, version) '
                || 'select %L, account_id, 1 from %I.transactions group by account_id on conflict do nothing',
                d.tenant_id, 'tenant_' || d.tenant_id);
        end if;
    end loop;
end
$$;
