namespace Ingestion.Contracts.Syncs;

/// <summary>A worker started the sync: its partitions are planned.</summary>
/// <param name="JobId">The job.</param>
/// <param name="Partitions">How many partitions (time slices, or one) the sync was planned in.</param>
/// <param name="StartedAt">When the worker started it.</param>
/// <param name="Attempt">The attempt this belongs to (<see cref="IAttemptMessage"/>).</param>
public sealed record SyncStarted(
    Guid JobId,
    int Partitions,
    DateTimeOffset StartedAt,
    int Attempt = 0) : IAttemptMessage;
