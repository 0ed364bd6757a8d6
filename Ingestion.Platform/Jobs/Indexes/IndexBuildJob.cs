using Ingestion.Platform.Messaging;

namespace Ingestion.Platform.Jobs;

/// <summary>
/// A secondary index added to a tenant's dataset after it was registered: built <c>CONCURRENTLY</c>
/// on the loaded table, then declared in the dataset's definition, so the read API serves the
/// filters and orders it starts with. One job per index (migration 0019): asking again for the same
/// columns answers with this job.
/// </summary>
public sealed class IndexBuildJob : JobState
{
    public const string KindName = "index-build";

    /// <summary>The states of the index build state machine, as stored in <c>current_state</c>.</summary>
    public static class States
    {
        public const string Scheduled = nameof(Scheduled);
        public const string Building = nameof(Building);
        public const string Built = nameof(Built);
        public const string Failed = JobStates.Failed;
        public const string Cancelled = JobStates.Cancelled;
    }

    /// <summary>What the shared job layer knows of index builds (<see cref="JobKinds"/>).</summary>
    public static readonly JobKind<IndexBuildJob> Descriptor = new(KindName)
    {
        JobsQueue = Queues.IndexBuildJobs,
        WorkQueue = Queues.BuildIndex,
        Queued = States.Scheduled,
        Running = States.Building,
        Succeeded = States.Built,
        WebhookCounts = job => new Dictionary<string, long> { ["tuplesDone"] = job.TuplesDone, ["blocksDone"] = job.BlocksDone },
        Objects = (_, _, _) => ValueTask.FromResult<IEnumerable<(string, string)>>([]),
    };

    /// <summary>The dataset the index is on.</summary>
    public string TargetDataset { get; set; } = "";

    public override string? Dataset => TargetDataset;

    /// <summary>The index's columns, in order.</summary>
    public IReadOnlyList<string> Columns { get; set; } = [];

    /// <summary>
    /// The index's name in the tenant's schema, generated from the dataset and the columns
    /// (<see cref="Datasets.DatasetIndex.NameOf"/>), never taken from the request.
    /// </summary>
    public string IndexName { get; set; } = "";

    /// <summary>PostgreSQL's phase of the build, while it runs.</summary>
    public string? Phase { get; set; }

    public long BlocksDone { get; set; }

    public long BlocksTotal { get; set; }

    public long TuplesDone { get; set; }

    public long TuplesTotal { get; set; }
}
