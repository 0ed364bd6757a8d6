using Ingestion.Contracts.Jobs;
using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Messaging;
using MassTransit;

namespace Ingestion.Workers.StateMachines;

/// <summary>
/// The life of an upload job:
/// <code>
///   SubmitUpload ──► Uploaded ──UploadProcessingStarted──► Processing ──UploadProcessed──► Completed
///                       │                                     │
///                       └──────UploadFailed / Fault&lt;ProcessUpload&gt;──┴──► Failed ──RetryJob──► Uploaded
///                       └──────────────CancelJob─────────────────────┴──► Cancelled ──RetryJob──► Uploaded
/// </code>
/// From Failed or Cancelled, UploadProcessed still completes the job: the work was done.
/// <code>
/// </code>
/// A job created by the API is already <c>Uploaded</c> when its <see cref="SubmitUpload"/>
/// arrives (the API wrote both in one transaction); one submitted on the bus is created here.
/// Either way the saga then sends a worker <see cref="ProcessUpload"/>.
/// </summary>
public sealed class UploadStateMachine : MassTransitStateMachine<UploadJob>
{
    public UploadStateMachine()
    {
        Event(() => Submitted, e =>
        {
            e.CorrelateById(m => m.Message.JobId);
            e.SetSagaFactory(context => Create(context.Message));
        });
        Event(() => ProcessingStarted, e => e.CorrelateById(m => m.Message.JobId));
        Event(() => Progressed, e => e.CorrelateById(m => m.Message.JobId));
        Event(() => Processed, e => e.CorrelateById(m => m.Message.JobId));
        Event(() => ProcessingFailed, e => e.CorrelateById(m => m.Message.JobId));
        Event(() => ProcessingFaulted, e => e.CorrelateById(m => m.Message.Message.JobId));
        Event(() => RetryRequested, OperatorCommands.ForExistingJob);
        Event(() => CancelRequested, OperatorCommands.ForExistingJob);
        Event(() => Stopped, e => e.CorrelateById(m => m.Message.JobId));

        InstanceState(x => x.CurrentState);

        Initially(
            When(Submitted)
                .Publish(context => Received(context.Saga))
                .SendThroughOutbox(ProcessQueue, context => Process(context.Saga))
                .TransitionTo(Uploaded));

        During(Uploaded,
            When(Submitted)
                .SendThroughOutbox(ProcessQueue, context => Process(context.Saga)),
            Ignore(RetryRequested));

        During(Uploaded, Processing,
            When(ProcessingStarted, context => Attempts.IsCurrent(context.Saga, context.Message))
                .Then(context => Start(context.Saga, context.Message))
                .TransitionTo(Processing),
            When(Progressed, context => Attempts.IsCurrent(context.Saga, context.Message))
                .Then(context => Advance(context.Saga, context.Message))
                .TransitionTo(Processing),
            When(ProcessingFailed, context => Attempts.IsCurrent(context.Saga, context.Message))
                .Then(context => Fail(context.Saga, context.Message))
                .TransitionTo(Failed),
            When(ProcessingFaulted, context => Attempts.IsCurrent(context.Saga, context.Message.Message))
                .Then(context => Fault(context.Saga, context.Message))
                .TransitionTo(Failed));

        // A queued job is stopped before a worker picks it; a running one by its worker at the
        // next batch boundary (which then reports where it stopped).
        During(Uploaded, Processing,
            When(CancelRequested)
                .Then(context => OperatorCommands.Cancel(context.Saga, context.Message))
                .TransitionTo(Cancelled));

        // Work that finishes is the truth, even after a failure or a cancel was recorded (a
        // message redelivered from the error queue, a file that ended as the cancel arrived).
        During(Uploaded, Processing, Failed, Cancelled,
            When(Processed, context => Attempts.IsCurrent(context.Saga, context.Message))
                .Then(context => Complete(context.Saga, context.Message))
                .TransitionTo(Completed));

        During(Cancelled,
            When(Stopped, context => Attempts.IsCurrent(context.Saga, context.Message))
                .Then(context => StopAt(context.Saga, context.Message)));

        During(Processing,
            Ignore(Submitted),
            Ignore(RetryRequested));

        During(Uploaded, Processing, Failed, Completed,
            Ignore(Stopped));

        // Only a retry revives a failed or cancelled job: a late Started or Progressed from the
        // attempt that ended must not make it look alive.
        During(Failed, Cancelled,
            When(RetryRequested)
                .Then(context => Reset(context.Saga))
                .SendThroughOutbox(ProcessQueue, context => Process(context.Saga))
                .TransitionTo(Uploaded),
            Ignore(Submitted),
            Ignore(ProcessingStarted),
            Ignore(Progressed),
            Ignore(ProcessingFailed),
            Ignore(ProcessingFaulted),
            Ignore(CancelRequested));

        During(Completed,
            Ignore(Submitted),
            Ignore(ProcessingStarted),
            Ignore(Progressed),
            Ignore(Processed),
            Ignore(ProcessingFailed),
            Ignore(ProcessingFaulted),
            Ignore(RetryRequested),
            Ignore(CancelRequested));
    }

    /// <summary>An upload's work: <see cref="ProcessUpload"/>, owed while the job is uploaded or processing.</summary>
    public static readonly JobWork<UploadJob, ProcessUpload> Work =
        new(Queues.ProcessUpload, [UploadJob.States.Uploaded, UploadJob.States.Processing], Process);

    private static readonly Uri ProcessQueue = Work.Queue;

    public State Uploaded { get; private set; } = null!;
    public State Processing { get; private set; } = null!;
    public State Completed { get; private set; } = null!;
    public State Failed { get; private set; } = null!;
    public State Cancelled { get; private set; } = null!;

    public Event<SubmitUpload> Submitted { get; private set; } = null!;
    public Event<UploadProcessingStarted> ProcessingStarted { get; private set; } = null!;
    public Event<UploadProgressed> Progressed { get; private set; } = null!;
    public Event<UploadProcessed> Processed { get; private set; } = null!;
    public Event<UploadFailed> ProcessingFailed { get; private set; } = null!;
    public Event<Fault<ProcessUpload>> ProcessingFaulted { get; private set; } = null!;
    public Event<RetryJob> RetryRequested { get; private set; } = null!;
    public Event<CancelJob> CancelRequested { get; private set; } = null!;
    public Event<UploadCancelled> Stopped { get; private set; } = null!;

    private static UploadJob Create(SubmitUpload message)
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

    private static void Start(UploadJob job, UploadProcessingStarted started)
    {
        job.StartedAt ??= started.StartedAt;
        job.Bytes = started.BytesTotal;
    }

    /// <summary>Progress may arrive out of order; counts only ever move forward.</summary>
    private static void Advance(UploadJob job, UploadProgressed progress)
    {
        job.StartedAt ??= progress.At;
        if (progress.BytesRead >= job.BytesRead)
        {
            job.BytesRead = progress.BytesRead;
            job.RowsLoaded = progress.RowsLoaded;
            job.RowsRejected = progress.RowsRejected;
            job.Bytes = progress.BytesTotal;
        }
    }

    private static void Complete(UploadJob job, UploadProcessed processed)
    {
        job.RowsLoaded = processed.RowsLoaded;
        job.RowsRejected = processed.RowsRejected;
        job.BytesRead = processed.BytesRead;
        job.RejectsKey = processed.RejectsKey;
        job.StartedAt ??= processed.CompletedAt;
        job.CompletedAt = processed.CompletedAt;

        // A cancel that came too late to stop the work is in the audit trail, not on the job.
        job.CancelledBy = null;
        job.StoppedAfterLine = null;
    }

    private static void Fail(UploadJob job, UploadFailed failed)
    {
        job.RowsLoaded = failed.RowsLoaded;
        job.RowsRejected = failed.RowsRejected;
        job.BytesRead = failed.BytesRead;
        job.RejectsKey = failed.RejectsKey;
        job.CompletedAt = failed.FailedAt;
        job.Error = new JobError(failed.Code, failed.Message, failed.FailedAt);
    }

    private static void Fault(UploadJob job, Fault<ProcessUpload> fault)
    {
        job.CompletedAt = fault.Timestamp;
        job.Error = JobErrors.From(fault);
    }

    private static void StopAt(UploadJob job, UploadCancelled stopped)
    {
        job.RowsLoaded = stopped.RowsLoaded;
        job.RowsRejected = stopped.RowsRejected;
        job.BytesRead = stopped.BytesRead;
        job.StoppedAfterLine = stopped.Line;
    }

    private static void Reset(UploadJob job)
    {
        OperatorCommands.Reset(job);
        job.StoppedAfterLine = null;
    }
}
