namespace Ingestion.Contracts.Indexes;

/// <summary>The build stopped; an invalid index it left was dropped, so a retry starts clean.</summary>
/// <param name="JobId">The job.</param>
/// <param name="Code">Stable, for programs: <c>dataset_missing</c>, <c>column_missing</c>, <c>table_busy</c>, <c>build_failed</c>.</param>
/// <param name="Message">What went wrong and what to do, for a person.</param>
/// <param name="FailedAt">When it stopped.</param>
/// <param name="Attempt">The attempt this belongs to (<see cref="IAttemptMessage"/>).</param>
public sealed record IndexBuildFailed(
    Guid JobId,
    string Code,
    string Message,
    DateTimeOffset FailedAt,
    int Attempt = 0) : IAttemptMessage;
