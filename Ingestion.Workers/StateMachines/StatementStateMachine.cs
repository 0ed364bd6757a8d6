using Ingestion.Contracts.Jobs;
using Ingestion.Contracts.Statements;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Messaging;
using MassTransit;

namespace Ingestion.Workers.StateMachines;

/// <summary>
/// The life of a statement job, on the shared wiring of <see cref="JobStateMachine{TJob,TSubmit,TWork,TStarted,TProgressed,TSucceeded,TFailed}"/>:
/// <code>
///   BuildStatement ──► Requested ──StatementRenderingStarted──► Rendering ──StatementReady──► Ready
///                          │                                     │
///                          └──StatementFailed / Fault&lt;RenderStatement&gt;──┴──► Failed ──RetryJob──► Requested
///                          └──────────────CancelJob──────────────────┴──► Cancelled ──RetryJob──► Requested
/// </code>
/// From Failed or Cancelled, StatementReady still makes the job ready: the document was stored.
/// Like uploads, a job requested over HTTP is created by the API (in Requested, with its
/// BuildStatement in the outbox); one requested on the bus is created here.
/// </summary>
public sealed class StatementStateMachine()
    : JobStateMachine<StatementJob, BuildStatement, RenderStatement, StatementRenderingStarted, StatementProgressed, StatementReady, StatementFailed>(Work)
{
    /// <summary>A statement's work: <see cref="RenderStatement"/>, owed while the job is requested or rendering.</summary>
    public static readonly JobWork<StatementJob, RenderStatement> Work =
        new(Render);

    public State Requested { get; private set; } = null!;
    public State Rendering { get; private set; } = null!;
    public State Ready { get; private set; } = null!;

    protected override StatementJob Create(BuildStatement message)
    {
        var now = DateTimeOffset.UtcNow;
        return new StatementJob
        {
            CorrelationId = message.JobId,
            TenantId = message.TenantId,
            AccountId = message.AccountId,
            From = message.From,
            To = message.To,
            CallbackUrl = message.CallbackUrl,
            CreatedAt = now,
            UpdatedAt = now,
        };
    }

    private static RenderStatement Render(StatementJob job) =>
        new(job.CorrelationId, job.TenantId, job.AccountId, job.From, job.To, job.Attempt);

    protected override void Start(StatementJob job, StatementRenderingStarted started)
    {
        job.StartedAt ??= started.StartedAt;
        job.LinesTotal = started.LinesTotal;
        job.PagesTotal = started.PagesTotal;
        job.Volumes = started.Volumes;
    }

    /// <summary>Progress may arrive out of order; it only ever moves forward.</summary>
    protected override void Advance(StatementJob job, StatementProgressed progress)
    {
        job.StartedAt ??= progress.At;
        if (progress.PagesRendered >= job.PagesRendered)
        {
            job.LinesRendered = progress.LinesRendered;
            job.PagesRendered = progress.PagesRendered;
        }
    }

    protected override void Complete(StatementJob job, StatementReady ready)
    {
        job.DocumentKey = ready.Key;
        job.ContentType = ready.ContentType;
        job.DocumentBytes = ready.Bytes;
        job.LinesTotal = job.LinesRendered = ready.Lines;
        job.PagesTotal = job.PagesRendered = ready.Pages;
        job.Volumes = ready.Volumes;
        job.StartedAt ??= ready.CompletedAt;
        job.CompletedAt = ready.CompletedAt;
        job.ExpiresAt = ready.ExpiresAt;
        job.Error = null;
        job.CancelledBy = null;
    }

    protected override void Fail(StatementJob job, StatementFailed failed)
    {
        job.CompletedAt = failed.FailedAt;
        job.Error = new JobError(failed.Code, failed.Message, failed.FailedAt);
    }

    protected override void ResetProgress(StatementJob job)
    {
        job.LinesRendered = 0;
        job.PagesRendered = 0;
    }
}
