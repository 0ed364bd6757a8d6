namespace Ingestion.Contracts.Jobs;

/// <summary>
/// A job stopped before it did all its work. What it committed before stays (an upload's loaded
/// batches), and <see cref="RetryJob"/> runs it again from there. Published by the job layer for every
/// kind, once the job's new state is committed.
/// </summary>
/// <param name="JobId">The job: the id the caller chose when it submitted the job, or the one the API gave it.</param>
/// <param name="Kind">The job's kind: <c>upload</c>, <c>statement</c>, …</param>
/// <param name="TenantId">The tenant the job belongs to.</param>
/// <param name="Counts">The kind's figures when it stopped (<see cref="IJobOutcome.Counts"/>).</param>
/// <param name="Error">Why it failed.</param>
/// <param name="Links">Paths on the HTTP API (<see cref="IJobOutcome.Links"/>), with <c>retry</c>.</param>
/// <param name="Attempt">Which run of the job failed.</param>
/// <param name="FailedAt">When it failed.</param>
public sealed record JobFailed(
    Guid JobId,
    string Kind,
    string TenantId,
    IReadOnlyDictionary<string, long> Counts,
    JobFailure Error,
    IReadOnlyDictionary<string, string> Links,
    int Attempt,
    DateTimeOffset FailedAt) : IJobOutcome;
