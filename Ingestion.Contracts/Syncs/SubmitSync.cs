namespace Ingestion.Contracts.Syncs;

/// <summary>
/// Sync a tenant's declared source into its dataset, as <c>POST /v1/sources/{name}/syncs</c> does.
/// Publishing it twice with the same JobId makes one job.
/// </summary>
/// <param name="JobId">The job.</param>
/// <param name="TenantId">The tenant whose source and dataset these are.</param>
/// <param name="Source">The source's name (<c>/v1/sources/{name}</c>).</param>
/// <param name="Mode"><c>full</c> or <c>incremental</c> (from the dataset's high-water mark, minus the source's lookback).</param>
/// <param name="Since">Optional lower bound of the records' time (inclusive), for a source that declares since/until parameters.</param>
/// <param name="Until">Optional upper bound (exclusive).</param>
/// <param name="CallbackUrl">Optional http(s) URL notified when the sync ends.</param>
public sealed record SubmitSync(
    Guid JobId,
    string TenantId,
    string Source,
    string Mode,
    DateTimeOffset? Since = null,
    DateTimeOffset? Until = null,
    string? CallbackUrl = null) : IJobMessage;
