namespace Ingestion.Contracts.Syncs;

/// <summary>
/// Work the job's partitions from their checkpoints for one time slice. Safe to deliver more than
/// once: the job's lock lets one copy work, and each page commits with its checkpoint.
/// </summary>
/// <param name="JobId">The job.</param>
/// <param name="TenantId">The tenant whose source and dataset these are.</param>
/// <param name="Source">The source's name (<c>/v1/sources/{name}</c>).</param>
/// <param name="Mode"><c>full</c> or <c>incremental</c>, as submitted.</param>
/// <param name="Since">The lower bound of the records' time asked for, if any.</param>
/// <param name="Until">The upper bound asked for, if any.</param>
/// <param name="Attempt">The attempt this belongs to (<see cref="IAttemptMessage"/>).</param>
public sealed record RunSync(
    Guid JobId,
    string TenantId,
    string Source,
    string Mode,
    DateTimeOffset? Since,
    DateTimeOffset? Until,
    int Attempt = 0) : IAttemptMessage;
