namespace Ingestion.Contracts.Jobs;

/// <summary>
/// Stop a queued or running job. A running upload stops at its next batch boundary: the
/// batches committed before stay loaded, and the job says after which line it stopped.
/// </summary>
/// <param name="JobId">The job.</param>
/// <param name="RequestedBy">Who asked: a tenant key, an ops key, or "system".</param>
public sealed record CancelJob(Guid JobId, string RequestedBy) : IJobMessage, IRequested;
