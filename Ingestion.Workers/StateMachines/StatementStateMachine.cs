using Ingestion.Contracts.Jobs;
using Ingestion.Contracts.Statements;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Messaging;
using MassTransit;

namespace Ingestion.Workers.StateMachines;

/// <summary>
/// The life of a statement job:
/// <code>
///   BuildStatement ──► Requested ──StatementRenderingStarted──► Rendering ──StatementReady──► Ready
///                          │                                     │
///                          └──StatementFailed / Fault&lt;RenderStatement&gt;──┴──► Failed ──RetryJob──► Requested
///                          └──────────────CancelJob──────────────────┴──► Cancelled ──RetryJob──► Requested
/// </code>
/// Like uploads, a job requested over HTTP is created by the API (in Requested, with its
/// BuildStatement in the outbox); one requested on the bus is created here.
/// </summary>
public sealed class StatementStateMachine : MassTransitStateMachine<StatementJob>
{
    /// <summary>A statement's work: <see cref="RenderStatement"/>, owed while the job is requested or rendering.</summary>
    public static readonly JobWork<StatementJob, RenderStatement> Work =
        new(Queues.RenderStatement, [StatementJob.States.Requested, StatementJob.States.Rendering], Render);

    private static readonly Uri RenderQueue = Work.Queue;

    public StatementStateMachine()
    {
        Event(() => BuildRequested, e =>
        {
            e.CorrelateById(m => m.Message.JobId);
            e.SetSagaFactory(context => Create(context.Message));
        });
        Event(() => RenderingStarted, e => e.CorrelateById(m => m.Message.JobId));
        Event(() => Progressed, e => e.CorrelateById(m => m.Message.JobId));
        Event(() => Rendered, e => e.CorrelateById(m => m.Message.JobId));
        Event(() => RenderingFailed, e => e.CorrelateById(m => m.Message.JobId));
        Event(() => RenderingFaulted, e => e.CorrelateById(m => m.Message.Message.JobId));
        Event(() => RetryRequested, OperatorCommands.ForExistingJob);
        Event(() => CancelRequested, OperatorCommands.ForExistingJob);

        InstanceState(x => x.CurrentState);

        Initially(
            When(BuildRequested)
                .SendThroughOutbox(RenderQueue, context => Render(context.Saga))
                .TransitionTo(Requested));

        During(Requested,
            When(BuildRequested)
                .SendThroughOutbox(RenderQueue, context => Render(context.Saga)),
            Ignore(RetryRequested));

        During(Requested, Rendering,
            When(RenderingStarted, context => Attempts.IsCurrent(context.Saga, context.Message))
                .Then(context => Start(context.Saga, context.Message))
                .TransitionTo(Rendering),
            When(Progressed, context => Attempts.IsCurrent(context.Saga, context.Message))
                .Then(context => Advance(context.Saga, context.Message))
                .TransitionTo(Rendering),
            When(RenderingFailed, context => Attempts.IsCurrent(context.Saga, context.Message))
                .Then(context => Fail(context.Saga, context.Message))
                .TransitionTo(Failed),
            When(RenderingFaulted, context => Attempts.IsCurrent(context.Saga, context.Message.Message))
                .Then(context => Fault(context.Saga, context.Message))
                .TransitionTo(Failed));

        During(Requested, Rendering,
            When(CancelRequested)
                .Then(context => OperatorCommands.Cancel(context.Saga, context.Message))
                .TransitionTo(Cancelled));

        During(Requested, Rendering, Failed, Cancelled,
            When(Rendered, context => Attempts.IsCurrent(context.Saga, context.Message))
                .Then(context => Complete(context.Saga, context.Message))
                .TransitionTo(Ready));

        During(Rendering,
            Ignore(BuildRequested),
            Ignore(RetryRequested));

        During(Failed, Cancelled,
            When(RetryRequested)
                .Then(context => Reset(context.Saga))
                .SendThroughOutbox(RenderQueue, context => Render(context.Saga))
                .TransitionTo(Requested),
            Ignore(BuildRequested),
            Ignore(RenderingStarted),
            Ignore(Progressed),
            Ignore(RenderingFailed),
            Ignore(RenderingFaulted),
            Ignore(CancelRequested));

        During(Ready,
            Ignore(BuildRequested),
            Ignore(RenderingStarted),
            Ignore(Progressed),
            Ignore(Rendered),
            Ignore(RenderingFailed),
            Ignore(RenderingFaulted),
            Ignore(RetryRequested),
            Ignore(CancelRequested));
    }

    public State Requested { get; private set; } = null!;
    public State Rendering { get; private set; } = null!;
    public State Ready { get; private set; } = null!;
    public State Failed { get; private set; } = null!;
    public State Cancelled { get; private set; } = null!;

    public Event<BuildStatement> BuildRequested { get; private set; } = null!;
    public Event<StatementRenderingStarted> RenderingStarted { get; private set; } = null!;
    public Event<StatementProgressed> Progressed { get; private set; } = null!;
    public Event<StatementReady> Rendered { get; private set; } = null!;
    public Event<StatementFailed> RenderingFailed { get; private set; } = null!;
    public Event<Fault<RenderStatement>> RenderingFaulted { get; private set; } = null!;
    public Event<RetryJob> RetryRequested { get; private set; } = null!;
    public Event<CancelJob> CancelRequested { get; private set; } = null!;

    private static StatementJob Create(BuildStatement message)
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

    private static void Start(StatementJob job, StatementRenderingStarted started)
    {
        job.StartedAt ??= started.StartedAt;
        job.LinesTotal = started.LinesTotal;
        job.PagesTotal = started.PagesTotal;
        job.Volumes = started.Volumes;
    }

    /// <summary>Progress may arrive out of order; it only ever moves forward.</summary>
    private static void Advance(StatementJob job, StatementProgressed progress)
    {
        job.StartedAt ??= progress.At;
        if (progress.PagesRendered >= job.PagesRendered)
        {
            job.LinesRendered = progress.LinesRendered;
            job.PagesRendered = progress.PagesRendered;
        }
    }

    private static void Complete(StatementJob job, StatementReady ready)
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

    private static void Fail(StatementJob job, StatementFailed failed)
    {
        job.CompletedAt = failed.FailedAt;
        job.Error = new JobError(failed.Code, failed.Message, failed.FailedAt);
    }

    private static void Fault(StatementJob job, Fault<RenderStatement> fault)
    {
        job.CompletedAt = fault.Timestamp;
        job.Error = JobErrors.From(fault);
    }

    private static void Reset(StatementJob job)
    {
        OperatorCommands.Reset(job);
        job.LinesRendered = 0;
        job.PagesRendered = 0;
    }
}
