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
    /// The longest a job's message is held while its build runs: the build goes on outside the message, which
    /// goes back to the queue after this and is picked up again. Well under RabbitMQ's consumer timeout
    /// (<c>consumer_timeout</c>, 30 minutes by default), past which the broker closes the channel and redelivers.
    /// </summary>
    public TimeSpan MaxHold { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// How many times one attempt's build is started when its worker dies before it ends (each start drops
    /// what the last one left); past it the job fails and a retry starts again. A build its worker stopped
    /// while shutting down gracefully is started again without counting.
    /// </summary>
    public int MaxStarts { get; set; } = 3;

    /// <summary>
    /// How long the build may wait for a lock: the table's (held by a vacuum or a schema change) or
    /// the end of transactions older than the build, which <c>CONCURRENTLY</c> waits out. Past it the
    /// job fails as <c>table_busy</c> rather than wait without end; a retry starts again.
    /// </summary>
    public TimeSpan LockTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often PostgreSQL's progress of the build is read, published, and a cancel looked for.</summary>
    public TimeSpan ProgressInterval { get; set; } = TimeSpan.FromSeconds(1);
}
