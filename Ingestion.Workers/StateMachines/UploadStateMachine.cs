using Ingestion.Contracts.Jobs;
using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Messaging;
using MassTransit;

namespace Ingestion.Workers.StateMachines;

/// <summary>
/// The life of an upload job, on the shared wiring of <see cref="JobStateMachine{TJob,TSubmit,TWork,TStarted,TProgressed,TSucceeded,TFailed}"/>:
/// <code>
///   SubmitUpload ──► Uploaded ──UploadProcessingStarted──► Processing ──UploadProcessed──► Completed
///                       │                                     │
///                       └──────UploadFailed / Fault&lt;ProcessUpload&gt;──┴──► Failed ──RetryJob──► Uploaded
///                       └──────────────CancelJob─────────────────────┴──► Cancelled ──RetryJob──► Uploaded
/// </code>
/// From Failed or Cancelled, UploadProcessed still completes the job: the work was done.
/// In Cancelled, the worker's <see cref="UploadCancelled"/> records where the load stopped.
/// <para>
/// A job created by the API is already <c>Uploaded</c> when its <see cref="SubmitUpload"/>
/// arrives (the API wrote both in one transaction); one submitted on the bus is created here
/// and announced (<see cref="UploadReceived"/>). Either way the saga then sends a worker
/// <see cref="ProcessUpload"/>.
/// </para>
/// </summary>
public sealed class UploadStateMachine
    : JobStateMachine<UploadJob, SubmitUpload, ProcessUpload, UploadProcessingStarted, UploadProgressed, UploadProcessed, UploadFailed>
{
    public UploadStateMachine()
        : base(Work, created => created.Publish(context => Received(context.Saga)))
    {
        Event(() => Stopped, e => e.CorrelateById(m => m.Message.JobId));

        During(Cancelled,
            When(Stopped, context => Attempts.IsCurrent(context.Saga, context.Message))
                .Then(context => StopAt(context.Saga, context.Message)));

        During(Uploaded, Processing, Failed, Completed,
            Ignore(Stopped));
    }

    /// <summary>An upload's work: <see cref="ProcessUpload"/>, owed while the job is uploaded or processing.</summary>
    public static readonly JobWork<UploadJob, ProcessUpload> Work =
        new(Process);

    public State Uploaded { get; private set; } = null!;
    public State Processing { get; private set; } = null!;
    public State Completed { get; private set; } = null!;

    /// <summary>Where a cancelled job's worker stopped; says nothing in any other state.</summary>
    public Event<UploadCancelled> Stopped { get; private set; } = null!;

    protected override UploadJob Create(SubmitUpload message)
    {
        var now = DateTimeOffset.UtcNow;
        return new UploadJob
        {
            CorrelationId = message.JobId,
            TenantId = message.TenantId,
            DatasetName = message.Dataset,
            Bucket = message.Bucket,
            Key = message.Key,
            CallbackUrl = message.CallbackUrl,
            CreatedAt = now,
            UpdatedAt = now,
        };
    }

    private static ProcessUpload Process(UploadJob job) =>
        new(job.CorrelationId, job.TenantId, job.DatasetName, job.Bucket, job.Key, job.Attempt);

    private static UploadReceived Received(UploadJob job) =>
        new(job.CorrelationId, job.TenantId, job.DatasetName, job.Bucket, job.Key, job.CreatedAt);

    protected override void Start(UploadJob job, UploadProcessingStarted started)
    {
        job.StartedAt ??= started.StartedAt;
        job.Bytes = started.BytesTotal;
    }

    /// <summary>Progress may arrive out of order; counts only ever move forward.</summary>
    protected override void Advance(UploadJob job, UploadProgressed progress)
    {
        job.StartedAt ??= progress.At;
        if (progress.BytesRead >= job.BytesRead)
        {
            job.BytesRead = progress.BytesRead;
            job.UncompressedBytesRead = progress.UncompressedBytesRead;
            job.RowsLoaded = progress.RowsLoaded;
            job.RowsRejected = progress.RowsRejected;
            job.Bytes = progress.BytesTotal;
        }
    }

    protected override void Complete(UploadJob job, UploadProcessed processed)
    {
        job.RowsLoaded = processed.RowsLoaded;
        job.RowsRejected = processed.RowsRejected;
        job.BytesRead = processed.BytesRead;
        job.UncompressedBytesRead = processed.UncompressedBytesRead;
        job.RejectsKey = processed.RejectsKey;
        job.StartedAt ??= processed.CompletedAt;
        job.CompletedAt = processed.CompletedAt;

        // A cancel that came too late to stop the work is in the audit trail, not on the job.
        job.CancelledBy = null;
        job.StoppedAfterLine = null;
    }

    protected override void Fail(UploadJob job, UploadFailed failed)
    {
        job.RowsLoaded = failed.RowsLoaded;
        job.RowsRejected = failed.RowsRejected;
        job.BytesRead = failed.BytesRead;
        job.UncompressedBytesRead = failed.UncompressedBytesRead;
        job.RejectsKey = failed.RejectsKey;
        job.CompletedAt = failed.FailedAt;
        job.Error = new JobError(failed.Code, failed.Message, failed.FailedAt);
    }

    private static void StopAt(UploadJob job, UploadCancelled stopped)
    {
        job.RowsLoaded = stopped.RowsLoaded;
        job.RowsRejected = stopped.RowsRejected;
        job.BytesRead = stopped.BytesRead;
        job.UncompressedBytesRead = stopped.UncompressedBytesRead;
        job.StoppedAfterLine = stopped.Line;
    }

    protected override void ResetProgress(UploadJob job) => job.StoppedAfterLine = null;
}
