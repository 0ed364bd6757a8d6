namespace Ingestion.Contracts.Syncs;

/// <summary>The sync stopped; <paramref name="Code"/> is stable, <paramref name="Message"/> for a person. Committed pages stay; a retry resumes after them.</summary>
/// <param name="JobId">The job.</param>
/// <param name="Code">Stable, for programs: <c>source_refused</c>, <c>source_missing</c>, <c>upstream_refused</c>, <c>upstream_unreachable</c>, <c>cursor_expired</c>, ….</param>
/// <param name="Message">What went wrong and what to do, for a person.</param>
/// <param name="Counts">The counts of what was committed before it stopped.</param>
/// <param name="FailedAt">When it stopped.</param>
/// <param name="Attempt">The attempt this belongs to (<see cref="IAttemptMessage"/>).</param>
public sealed record SyncFailed(
    Guid JobId,
    string Code,
    string Message,
    SyncCounts Counts,
    DateTimeOffset FailedAt,
    int Attempt = 0) : IAttemptMessage;
