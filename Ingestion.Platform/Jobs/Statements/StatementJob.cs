using Ingestion.Platform.Messaging;

namespace Ingestion.Platform.Jobs;

/// <summary>An account's statement for a period, rendered to PDF in S3.</summary>
public sealed class StatementJob : JobState, IExpiringDocument
{
    public const string KindName = "statement";

    /// <summary>The states of the statement state machine, as stored in <c>current_state</c>.</summary>
    public static class States
    {
        public const string Requested = nameof(Requested);
        public const string Rendering = nameof(Rendering);
        public const string Ready = nameof(Ready);
        public const string Failed = JobStates.Failed;
        public const string Cancelled = JobStates.Cancelled;
    }

    /// <summary>What the shared job layer knows of statements (<see cref="JobKinds"/>).</summary>
    public static readonly JobKind<StatementJob> Descriptor = new(KindName)
    {
        JobsQueue = Queues.StatementJobs,
        WorkQueue = Queues.RenderStatement,
        Queued = States.Requested,
        Running = States.Rendering,
        Succeeded = States.Ready,
        WebhookCounts = job => new Dictionary<string, long> { ["lines"] = job.LinesTotal, ["pages"] = job.PagesTotal },
        Links = job => job.CurrentState == States.Ready
            ? new Dictionary<string, string> { ["download"] = $"/v1/jobs/{job.CorrelationId}/download" }
            : new Dictionary<string, string>(),
        Objects = async (job, store, cancellationToken) =>
            (await store.ListAsync(DocumentsFolder(job.TenantId, job.CorrelationId), cancellationToken)).Select(key => (store.Bucket, key)),
    };

    public override string? Dataset => "transactions";

    public long AccountId { get; set; }

    public DateOnly From { get; set; }

    public DateOnly To { get; set; }

    public long LinesTotal { get; set; }

    public long LinesRendered { get; set; }

    public int PagesTotal { get; set; }

    public int PagesRendered { get; set; }

    public int Volumes { get; set; }

    public string? DocumentKey { get; set; }

    public string? ContentType { get; set; }

    public long? DocumentBytes { get; set; }

    /// <summary>When the document is removed from S3 (retention); the job outlives it.</summary>
    public DateTimeOffset? ExpiresAt { get; set; }

    /// <summary>When retention deleted the document from S3, after <see cref="ExpiresAt"/>.</summary>
    public DateTimeOffset? DocumentDeletedAt { get; set; }

    /// <summary>
    /// Where a statement's documents are written; retention lists it rather than trusting
    /// <see cref="DocumentKey"/>, since a worker may have written there and died before the job said so.
    /// </summary>
    public static string DocumentsFolder(string tenantId, Guid jobId) => $"documents/{tenantId}/{jobId:N}/";
}
