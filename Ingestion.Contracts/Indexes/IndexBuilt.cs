namespace Ingestion.Contracts.Indexes;

/// <summary>The index is valid and declared in the dataset's definition: filters and orders it serves are answered.</summary>
/// <param name="JobId">The job.</param>
/// <param name="IndexName">The index's name in the tenant's schema.</param>
/// <param name="CompletedAt">When it was declared.</param>
/// <param name="Attempt">The attempt this belongs to (<see cref="IAttemptMessage"/>).</param>
public sealed record IndexBuilt(
    Guid JobId,
    string IndexName,
    DateTimeOffset CompletedAt,
    int Attempt = 0) : IAttemptMessage;
