namespace Ingestion.Contracts.Indexes;

/// <summary>
/// Add a secondary index to a tenant's loaded dataset, as <c>POST /v1/datasets/{name}/indexes</c> does:
/// built <c>CONCURRENTLY</c>, so loads and reads go on while it is built. Publishing it twice with the
/// same JobId makes one job.
/// </summary>
/// <param name="JobId">The job.</param>
/// <param name="TenantId">The tenant whose dataset this is.</param>
/// <param name="Dataset">The dataset's name.</param>
/// <param name="Columns">The index's columns, in order; each one of the dataset's columns.</param>
/// <param name="CallbackUrl">Optional http(s) URL notified when the build ends.</param>
public sealed record AddIndex(
    Guid JobId,
    string TenantId,
    string Dataset,
    IReadOnlyList<string> Columns,
    string? CallbackUrl = null) : IJobMessage;
