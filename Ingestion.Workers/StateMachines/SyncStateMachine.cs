using Ingestion.Contracts.Syncs;
using Ingestion.Platform.Jobs;
using MassTransit;

namespace Ingestion.Workers.StateMachines;

/// <summary>
/// The life of a sync job, on the shared wiring of <see cref="JobStateMachine{TJob,TSubmit,TWork,TStarted,TProgressed,TSucceeded,TFailed}"/>:
/// <code>
///   SubmitSync ──► Queued ──SyncStarted / SyncProgressed──► Syncing ──SyncDone──► Synced
///                    │                                       │
///                    └──SyncFailed / Fault&lt;RunSync&gt;───────────┴──► Failed ──RetryJob──► Queued
///                    └──────────────CancelJob────────────────┴──► Cancelled ──RetryJob──► Queued
/// </code>
/// A retry resumes from the partitions' checkpoints, so its counts carry on from where the failed
/// attempt committed: progress is not reset.
/// </summary>
public sealed class SyncStateMachine()
    : JobStateMachine<SyncJob, SubmitSync, RunSync, SyncStarted, SyncProgressed, SyncDone, SyncFailed>(Work)
{
    /// <summary>A sync's work: <see cref="RunSync"/>, owed while the job is queued or syncing.</summary>
    public static readonly JobWork<SyncJob, RunSync> Work = new(job => new RunSync(job.CorrelationId, job.TenantId, job.Source, job.Mode, job.Since, job.Until, job.Attempt));

    // Named as SyncJob.Descriptor names Queued, Running and Succeeded.
    public State Queued { get; private set; } = null!;
    public State Syncing { get; private set; } = null!;
    public State Synced { get; private set; } = null!;

    protected override SyncJob Create(SubmitSync message)
    {
        var now = DateTimeOffset.UtcNow;
        return new SyncJob
        {
            CorrelationId = message.JobId,
            TenantId = message.TenantId,
            Source = message.Source,
            Mode = message.Mode,
            Since = message.Since,
            Until = message.Until,
            CallbackUrl = message.CallbackUrl,
            CreatedAt = now,
            UpdatedAt = now,
        };
    }

    protected override void Start(SyncJob job, SyncStarted started)
    {
        job.StartedAt ??= started.StartedAt;
        job.Partitions = started.Partitions;
    }

    /// <summary>Counts come from committed checkpoints and only grow; a late, smaller one is ignored.</summary>
    protected override void Advance(SyncJob job, SyncProgressed progress)
    {
        if (progress.Counts.Requests >= job.Requests)
        {
            Apply(job, progress.Counts);
        }
    }

    protected override void Complete(SyncJob job, SyncDone done)
    {
        Apply(job, done.Counts);
        job.RejectsKey = done.RejectsKey;
        job.StartedAt ??= done.CompletedAt;
        job.CompletedAt = done.CompletedAt;
        job.Error = null;
        job.CancelledBy = null;
    }

    protected override void Fail(SyncJob job, SyncFailed failed)
    {
        Apply(job, failed.Counts);
        job.CompletedAt = failed.FailedAt;
        job.Error = new JobError(failed.Code, failed.Message, failed.FailedAt);
    }

    private static void Apply(SyncJob job, SyncCounts counts)
    {
        job.Requests = counts.Requests;
        job.Records = counts.Records;
        job.RowsLoaded = counts.RowsLoaded;
        job.Duplicates = counts.Duplicates;
        job.Rejects = counts.Rejects;
        job.Http429 = counts.Http429;
        job.ExpectedTotal = counts.ExpectedTotal ?? job.ExpectedTotal;
        job.BudgetShare = counts.BudgetShare;
    }
}
