namespace Ingestion.Workers.Indexes;

/// <summary>How workers build indexes. Bound from the <c>IndexBuilds</c> section.</summary>
public sealed class IndexBuildOptions
{
    public const string Section = "IndexBuilds";

    /// <summary>
    /// Builds one worker runs at once. Each scans its whole table and sorts it in
    /// <c>maintenance_work_mem</c> on the database server: few at a time keep loads and reads fast.
    /// </summary>
    public int ConcurrentJobs { get; set; } = 1;

    /// <summary>
    /// How long the build may wait for a lock: the table's (held by a vacuum or a schema change) or
    /// the end of transactions older than the build, which <c>CONCURRENTLY</c> waits out. Past it the
    /// job fails as <c>table_busy</c> rather than wait without end; a retry starts again.
    /// </summary>
    public TimeSpan LockTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often PostgreSQL's progress of the build is read, published, and a cancel looked for.</summary>
    public TimeSpan ProgressInterval { get; set; } = TimeSpan.FromSeconds(1);
}
