namespace Ingestion.Contracts.Syncs;

/// <summary>A worker started the sync: its partitions are planned.</summary>
public sealed record SyncStarted(
    Guid JobId,
    int Partitions,
    DateTimeOffset StartedAt,
    int Attempt = 0) : IAttemptMessage;
