namespace Ingestion.Contracts.Syncs;

/// <summary>The sync stopped; <paramref name="Code"/> is stable, <paramref name="Message"/> for a person. Committed pages stay; a retry resumes after them.</summary>
public sealed record SyncFailed(
    Guid JobId,
    string Code,
    string Message,
    SyncCounts Counts,
    DateTimeOffset FailedAt,
    int Attempt = 0) : IAttemptMessage;
