-- PDFs attached to an account; every statement of the account appends them.
create table ingestion.account_documents (
    document_id  uuid        primary key,
    tenant_id    text        not null,
    account_id   bigint      not null,
    file_name    text        not null,
    object_key   text        not null,
    bytes        bigint      not null,
    pages        integer     not null,
    sha256       text        not null,
    created_at   timestamptz not null default now()
);

create index account_documents_account on ingestion.account_documents (tenant_id, account_id, created_at);
