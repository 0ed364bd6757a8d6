namespace Ingestion.Contracts.Indexes;

/// <summary>
/// Build the job's index. Safe to deliver more than once: the job's lock lets one copy work, an
/// invalid index a failed or killed build left is dropped first, and a valid one is not built again.
/// </summary>
/// <param name="JobId">The job.</param>
/// <param name="TenantId">The tenant whose dataset this is.</param>
/// <param name="Dataset">The dataset's name.</param>
/// <param name="Columns">The index's columns, in order.</param>
/// <param name="Attempt">The attempt this belongs to (<see cref="IAttemptMessage"/>).</param>
public sealed record BuildIndex(
    Guid JobId,
    string TenantId,
    string Dataset,
    IReadOnlyList<string> Columns,
    int Attempt = 0) : IAttemptMessage;
