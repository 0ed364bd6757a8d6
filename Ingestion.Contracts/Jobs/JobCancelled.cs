namespace Ingestion.Contracts.Jobs;

/// <summary>
/// A job was cancelled (<see cref="CancelJob"/>, or <c>POST /v1/jobs/{id}/cancel</c>). A running job
/// stops at its next boundary: an upload may still commit the batch it was writing, so
/// <paramref name="Counts"/> are those when the cancel was recorded and the job's view says where it
/// stopped. <see cref="RetryJob"/> carries it on. Published by the job layer for every kind, once
/// the job's new state is committed.
/// </summary>
/// <param name="JobId">The job: the id the caller chose when it submitted the job, or the one the API gave it.</param>
/// <param name="Kind">The job's kind: <c>upload</c>, <c>statement</c>, …</param>
/// <param name="TenantId">The tenant the job belongs to.</param>
/// <param name="Counts">The kind's figures when the cancel was recorded (<see cref="IJobOutcome.Counts"/>).</param>
/// <param name="CancelledBy">Who asked: <c>tenant:acme/key:1a2b3c4d</c>, <c>ops/key:…</c>, or what a service put in <see cref="CancelJob.RequestedBy"/>.</param>
/// <param name="Links">Paths on the HTTP API (<see cref="IJobOutcome.Links"/>), with <c>retry</c>.</param>
/// <param name="Attempt">Which run of the job was cancelled.</param>
/// <param name="CancelledAt">When the cancel was recorded.</param>
public sealed record JobCancelled(
    Guid JobId,
    string Kind,
    string TenantId,
    IReadOnlyDictionary<string, long> Counts,
    string? CancelledBy,
    IReadOnlyDictionary<string, string> Links,
    int Attempt,
    DateTimeOffset CancelledAt) : IJobOutcome;
