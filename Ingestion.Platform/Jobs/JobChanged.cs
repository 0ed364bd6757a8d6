namespace Ingestion.Platform.Jobs;

/// <summary>
/// The service's own event, published after every committed change of a job (a transition or
/// progress), so that every API instance can push it to the job's live clients. Carries the
/// job as stored (<see cref="JobSerializer"/>), since a client must see each state as it was,
/// not as the row is by the time the event arrives. Not a public contract.
/// </summary>
public sealed record JobChanged(Guid JobId, string TenantId, string Kind, int Version, string State, string Job, DateTimeOffset At);
