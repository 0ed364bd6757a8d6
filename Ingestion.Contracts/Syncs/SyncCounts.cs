namespace Ingestion.Contracts.Syncs;

/// <summary>
/// Where a sync stands, summed over its partitions' committed checkpoints: so a count never
/// includes a page that was not committed.
/// </summary>
/// <param name="Requests">HTTP requests made to the upstream, retries and refused ones included.</param>
/// <param name="Records">Records read from committed pages.</param>
/// <param name="RowsLoaded">Rows whose key was new to the table (distinct keys loaded).</param>
/// <param name="Duplicates">Records whose key was already loaded or repeated in the page: skipped (reject policy) or replacing the row (upsert).</param>
/// <param name="Rejects">Records that did not fit the dataset; each is in the rejects file with its raw JSON and the reason.</param>
/// <param name="Http429">Responses 429 Too Many Requests received.</param>
/// <param name="ExpectedTotal">The total the upstream reported, when it reports one.</param>
/// <param name="BudgetShare">The share of the rate budget the sync used while running: requests made over those the policy allowed in that time.</param>
public sealed record SyncCounts(
    long Requests,
    long Records,
    long RowsLoaded,
    long Duplicates,
    long Rejects,
    long Http429,
    long? ExpectedTotal,
    double BudgetShare);
