namespace Ingestion.Contracts.Jobs;

/// <summary>
/// A job did its work: an upload's rows are all in the table or the rejects file, a statement is
/// stored and can be downloaded. Published by the job layer for every kind, once the job's new state
/// is committed.
/// </summary>
/// <param name="JobId">The job: the id the caller chose when it submitted the job, or the one the API gave it.</param>
/// <param name="Kind">The job's kind: <c>upload</c>, <c>statement</c>, …</param>
/// <param name="TenantId">The tenant the job belongs to.</param>
/// <param name="Counts">The kind's figures (<see cref="IJobOutcome.Counts"/>).</param>
/// <param name="Links">Paths on the HTTP API (<see cref="IJobOutcome.Links"/>); a ready statement has <c>download</c>.</param>
/// <param name="Attempt">Which run of the job completed.</param>
/// <param name="CompletedAt">When the work finished.</param>
public sealed record JobCompleted(
    Guid JobId,
    string Kind,
    string TenantId,
    IReadOnlyDictionary<string, long> Counts,
    IReadOnlyDictionary<string, string> Links,
    int Attempt,
    DateTimeOffset CompletedAt) : IJobOutcome;
