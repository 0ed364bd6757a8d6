namespace Ingestion.Contracts.Syncs;

/// <summary>Where the sync stands after committed pages; published at most a few times a second.</summary>
/// <param name="JobId">The job.</param>
/// <param name="Counts">The counts as of the committed pages.</param>
/// <param name="At">When the last of those pages committed.</param>
/// <param name="Attempt">The attempt this belongs to (<see cref="IAttemptMessage"/>).</param>
public sealed record SyncProgressed(
    Guid JobId,
    SyncCounts Counts,
    DateTimeOffset At,
    int Attempt = 0) : IAttemptMessage;
