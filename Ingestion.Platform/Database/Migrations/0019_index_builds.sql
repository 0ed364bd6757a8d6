-- One index build per index of a dataset: a second request for the same columns (even racing the
-- first) inserts nothing, and the API answers with the job that builds it. The name is generated
-- by the service from the dataset and a hash of the exact column list, so equal columns mean an equal
-- name and different ones a different name.
create unique index jobs_one_build_per_index on ingestion.jobs (tenant_id, dataset, (data ->> 'indexName'))
    where kind = 'index-build';
