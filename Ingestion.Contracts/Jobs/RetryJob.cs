namespace Ingestion.Contracts.Jobs;

/// <summary>
/// Run a failed job again from its last checkpoint, without a new upload.
/// </summary>
/// <param name="JobId">The job.</param>
/// <param name="RequestedBy">Who asked: a tenant key, an ops key, or "system".</param>
public sealed record RetryJob(Guid JobId, string RequestedBy) : IJobMessage, IRequested;
