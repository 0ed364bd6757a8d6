using Ingestion.Platform.Messaging;

namespace Ingestion.Platform.Jobs;

/// <summary>A pull of a tenant's declared HTTP source into its dataset (<c>Platform/Sources</c>).</summary>
public sealed class SyncJob : JobState
{
    public const string KindName = "sync";

    /// <summary>The states of the sync state machine, as stored in <c>current_state</c>.</summary>
    public static class States
    {
        public const string Queued = nameof(Queued);
        public const string Syncing = nameof(Syncing);
        public const string Synced = nameof(Synced);
        public const string Failed = JobStates.Failed;
        public const string Cancelled = JobStates.Cancelled;
    }

    /// <summary>What the shared job layer knows of syncs (<see cref="JobKinds"/>).</summary>
    public static readonly JobKind<SyncJob> Descriptor = new(KindName)
    {
        JobsQueue = Queues.SyncJobs,
        WorkQueue = Queues.RunSync,
        Queued = States.Queued,
        Running = States.Syncing,
        Succeeded = States.Synced,
        Tables = ["sync_partitions", "sync_duplicate_keys"],
        WebhookCounts = job => new Dictionary<string, long>
        {
            ["requests"] = job.Requests,
            ["records"] = job.Records,
            ["rowsLoaded"] = job.RowsLoaded,
            ["duplicates"] = job.Duplicates,
            ["rejects"] = job.Rejects,
        },
        Objects = (job, store, _) =>
            ValueTask.FromResult<IEnumerable<(string, string)>>([(store.Bucket, RejectsKeyFor(job.TenantId, job.CorrelationId))]),
    };

    /// <summary>The source's name in the tenant's catalog.</summary>
    public string Source { get; set; } = "";

    /// <summary>The dataset the source loads into, as the source declared it when the job was created.</summary>
    public string TargetDataset { get; set; } = "";

    public override string? Dataset => TargetDataset;

    /// <summary><c>full</c> or <c>incremental</c>.</summary>
    public string Mode { get; set; } = "full";

    public DateTimeOffset? Since { get; set; }

    public DateTimeOffset? Until { get; set; }

    public int Partitions { get; set; }

    public long Requests { get; set; }

    public long Records { get; set; }

    public long RowsLoaded { get; set; }

    public long Duplicates { get; set; }

    public long Rejects { get; set; }

    public long Http429 { get; set; }

    public long? ExpectedTotal { get; set; }

    public double BudgetShare { get; set; }

    public string? RejectsKey { get; set; }

    public static string RejectsKeyFor(string tenantId, Guid jobId) => $"rejects/{tenantId}/sync-{jobId:N}.csv";
}
