namespace Ingestion.Contracts.Indexes;

/// <summary>Where the build stands, as PostgreSQL reports it (<c>pg_stat_progress_create_index</c>); about once a second.</summary>
/// <param name="JobId">The job.</param>
/// <param name="Phase">PostgreSQL's phase, e.g. <c>building index: scanning table</c>.</param>
/// <param name="BlocksDone">Table blocks scanned in this phase.</param>
/// <param name="BlocksTotal">Table blocks to scan in this phase (0 when the phase does not scan).</param>
/// <param name="TuplesDone">Rows processed in this phase.</param>
/// <param name="TuplesTotal">Rows to process in this phase (0 when unknown).</param>
/// <param name="At">When PostgreSQL was asked.</param>
/// <param name="Attempt">The attempt this belongs to (<see cref="IAttemptMessage"/>).</param>
public sealed record IndexBuildProgressed(
    Guid JobId,
    string Phase,
    long BlocksDone,
    long BlocksTotal,
    long TuplesDone,
    long TuplesTotal,
    DateTimeOffset At,
    int Attempt = 0) : IAttemptMessage;
