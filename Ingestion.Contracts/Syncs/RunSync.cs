namespace Ingestion.Contracts.Syncs;

/// <summary>
/// Work the job's partitions from their checkpoints for one time slice. Safe to deliver more than
/// once: the job's lock lets one copy work, and each page commits with its checkpoint.
/// </summary>
public sealed record RunSync(
    Guid JobId,
    string TenantId,
    string Source,
    string Mode,
    DateTimeOffset? Since,
    DateTimeOffset? Until,
    int Attempt = 0) : IAttemptMessage;
