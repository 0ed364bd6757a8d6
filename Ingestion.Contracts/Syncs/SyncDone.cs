namespace Ingestion.Contracts.Syncs;

/// <summary>
/// Every partition reached its end. <paramref name="Counts"/> is the reconciliation: what the
/// upstream said it had (<see cref="SyncCounts.ExpectedTotal"/>), the distinct keys loaded, the
/// duplicates seen and the rejects.
/// </summary>
/// <param name="JobId">The job.</param>
/// <param name="Counts">The final counts: the reconciliation.</param>
/// <param name="RejectsKey">The rejects file in S3, when there were rejects.</param>
/// <param name="CompletedAt">When the last partition ended.</param>
/// <param name="Attempt">The attempt this belongs to (<see cref="IAttemptMessage"/>).</param>
public sealed record SyncDone(
    Guid JobId,
    SyncCounts Counts,
    string? RejectsKey,
    DateTimeOffset CompletedAt,
    int Attempt = 0) : IAttemptMessage;
