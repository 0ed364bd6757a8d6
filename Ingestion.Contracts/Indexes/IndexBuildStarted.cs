namespace Ingestion.Contracts.Indexes;

/// <summary>A worker started building the index.</summary>
/// <param name="JobId">The job.</param>
/// <param name="IndexName">The index's name in the tenant's schema, chosen by the service.</param>
/// <param name="StartedAt">When the worker started it.</param>
/// <param name="Attempt">The attempt this belongs to (<see cref="IAttemptMessage"/>).</param>
public sealed record IndexBuildStarted(
    Guid JobId,
    string IndexName,
    DateTimeOffset StartedAt,
    int Attempt = 0) : IAttemptMessage;
