using Ingestion.Contracts.Indexes;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Jobs;
using MassTransit;

namespace Ingestion.Workers.StateMachines;

/// <summary>
/// The life of an index build, on the shared wiring of <see cref="JobStateMachine{TJob,TSubmit,TWork,TStarted,TProgressed,TSucceeded,TFailed}"/>:
/// <code>
///   AddIndex ──► Scheduled ──IndexBuildStarted / IndexBuildProgressed──► Building ──IndexBuilt──► Built
///                  │                                                      │
///                  └──IndexBuildFailed / Fault&lt;BuildIndex&gt;─────────────────┴──► Failed ──RetryJob──► Scheduled
///                  └──────────────CancelJob──────────────────────────────┴──► Cancelled ──RetryJob──► Scheduled
/// </code>
/// A retry builds from the start: a concurrent build has no checkpoint, and what a failed one left is dropped.
/// </summary>
public sealed class IndexBuildStateMachine()
    : JobStateMachine<IndexBuildJob, AddIndex, BuildIndex, IndexBuildStarted, IndexBuildProgressed, IndexBuilt, IndexBuildFailed>(Work)
{
    /// <summary>An index build's work: <see cref="BuildIndex"/>, owed while the job is scheduled or building.</summary>
    public static readonly JobWork<IndexBuildJob, BuildIndex> Work =
        new(job => new BuildIndex(job.CorrelationId, job.TenantId, job.TargetDataset, job.Columns, job.Attempt));

    // Named as IndexBuildJob.Descriptor names Queued, Running and Succeeded.
    public State Scheduled { get; private set; } = null!;
    public State Building { get; private set; } = null!;
    public State Built { get; private set; } = null!;

    protected override IndexBuildJob Create(AddIndex message)
    {
        var now = DateTimeOffset.UtcNow;
        return new IndexBuildJob
        {
            CorrelationId = message.JobId,
            TenantId = message.TenantId,
            TargetDataset = message.Dataset,
            Columns = message.Columns,
            IndexName = DatasetIndex.NameOf(message.Dataset, message.Columns),
            CallbackUrl = message.CallbackUrl,
            CreatedAt = now,
            UpdatedAt = now,
        };
    }

    protected override void Start(IndexBuildJob job, IndexBuildStarted started)
    {
        job.StartedAt ??= started.StartedAt;
        job.IndexName = started.IndexName;
    }

    protected override void Advance(IndexBuildJob job, IndexBuildProgressed progress)
    {
        job.Phase = progress.Phase;
        job.BlocksDone = progress.BlocksDone;
        job.BlocksTotal = progress.BlocksTotal;
        job.TuplesDone = progress.TuplesDone;
        job.TuplesTotal = progress.TuplesTotal;
    }

    protected override void Complete(IndexBuildJob job, IndexBuilt built)
    {
        job.IndexName = built.IndexName;
        job.Phase = null;
        job.StartedAt ??= built.CompletedAt;
        job.CompletedAt = built.CompletedAt;
        job.Error = null;
        job.CancelledBy = null;
    }

    protected override void Fail(IndexBuildJob job, IndexBuildFailed failed)
    {
        job.Phase = null;
        job.CompletedAt = failed.FailedAt;
        job.Error = new JobError(failed.Code, failed.Message, failed.FailedAt);
    }

    protected override void ResetProgress(IndexBuildJob job)
    {
        job.Phase = null;
        job.BlocksDone = job.BlocksTotal = job.TuplesDone = job.TuplesTotal = 0;
    }
}
