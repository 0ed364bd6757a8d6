namespace Ingestion.Contracts.Syncs;

/// <summary>Where the sync stands after committed pages; published at most a few times a second.</summary>
public sealed record SyncProgressed(
    Guid JobId,
    SyncCounts Counts,
    DateTimeOffset At,
    int Attempt = 0) : IAttemptMessage;
