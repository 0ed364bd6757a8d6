using Ingestion.Contracts;
using Ingestion.Contracts.Jobs;
using Ingestion.Platform.Jobs;
using MassTransit;

namespace Ingestion.Workers.StateMachines;

/// <summary>
/// The life every kind of job shares, in the kind's own states (its <see cref="JobKind"/>'s
/// <c>Queued</c>, <c>Running</c>, <c>Succeeded</c>) and the two every kind has:
/// <code>
///   TSubmit ──► Queued ──TStarted / TProgressed──► Running ──TSucceeded──► Succeeded
///                 │                                  │
///                 └──────TFailed / Fault&lt;TWork&gt;───────┴──► Failed ──RetryJob──► Queued
///                 └──────────────CancelJob───────────┴──► Cancelled ──RetryJob──► Queued
/// </code>
/// <list type="bullet">
/// <item>Entering Queued (submitted, or retried) sends the job's work, <typeparamref name="TWork"/>,
/// through the PostgreSQL outbox in the saga's own transaction (<see cref="JobWork"/>).</item>
/// <item>A retry starts the next attempt (<see cref="OperatorCommands.Reset"/>); every event of a
/// worker is taken only from the current one (<see cref="Attempts"/>).</item>
/// <item>From Failed or Cancelled, <typeparamref name="TSucceeded"/> still ends the job in Succeeded:
/// work that finished is the truth. Nothing else revives an ended job but a retry.</item>
/// <item>A submit command sent with MassTransit's request client is answered with <c>JobAccepted</c> in any
/// state (<see cref="JobAcceptance"/>); one a kind's check refuses never reaches it (<see cref="SubmitCheckFilter{TMessage}"/>).</item>
/// <item>Entering Succeeded, Failed or Cancelled publishes <c>JobCompleted</c>, <c>JobFailed</c> or
/// <c>JobCancelled</c> through the outbox (<see cref="JobOutcomes"/>).</item>
/// </list>
/// A kind's state machine gives its types, maps its messages onto its state, and adds what only it
/// has (an upload's <c>UploadCancelled</c>).
/// </summary>
public abstract class JobStateMachine<TJob, TSubmit, TWork, TStarted, TProgressed, TSucceeded, TFailed> : MassTransitStateMachine<TJob>
    where TJob : JobState
    where TSubmit : class, IJobMessage
    where TWork : class, IAttemptMessage
    where TStarted : class, IAttemptMessage
    where TProgressed : class, IAttemptMessage
    where TSucceeded : class, IAttemptMessage
    where TFailed : class, IAttemptMessage
{
    /// <param name="work">The kind's work: its command and queue, as the reaper also sends it.</param>
    /// <param name="created">What else a job created here does before its work is sent (publish news of it).</param>
    protected JobStateMachine(JobWork<TJob, TWork> work,
        Func<EventActivityBinder<TJob, TSubmit>, EventActivityBinder<TJob, TSubmit>>? created = null)
    {
        created ??= binder => binder;
        // The kind's own states are properties of the subclass, named as its JobKind names them.
        var kind = JobKinds.Of(typeof(TJob));
        var queued = GetState(kind.Queued);
        var running = GetState(kind.Running);
        var succeeded = GetState(kind.Succeeded);

        Event(() => Submitted, e =>
        {
            e.CorrelateById(m => m.Message.JobId);
            e.SetSagaFactory(context => Create(context.Message));
        });
        Event(() => WorkStarted, e => e.CorrelateById(m => m.Message.JobId));
        Event(() => WorkProgressed, e => e.CorrelateById(m => m.Message.JobId));
        Event(() => WorkDone, e => e.CorrelateById(m => m.Message.JobId));
        Event(() => WorkFailed, e => e.CorrelateById(m => m.Message.JobId));
        Event(() => WorkFaulted, e => e.CorrelateById(m => m.Message.Message.JobId));
        Event(() => RetryRequested, OperatorCommands.ForExistingJob);
        Event(() => CancelRequested, OperatorCommands.ForExistingJob);

        InstanceState(x => x.CurrentState);

        // A submit command sent with the request client is answered with the job (JobAcceptance), in
        // every state: a repeat of the command (same job id) gets the job it made, never a second one.
        Initially(
            created(When(Submitted))
                .SendThroughOutbox(work.Queue, context => work.Command(context.Saga))
                .TransitionTo(queued)
                .ThenAsync(JobAcceptance.RespondAsync));

        // A job created by the API is already queued when its submit command arrives (the API wrote
        // both in one transaction): the command only sends the work.
        During(queued,
            When(Submitted, IsTheJobsOwn)
                .SendThroughOutbox(work.Queue, context => work.Command(context.Saga))
                .ThenAsync(JobAcceptance.RespondAsync),
            When(Submitted, context => !IsTheJobsOwn(context))
                .ThenAsync(context => JobAcceptance.RefuseAsync(context, Create(context.Message).TenantId)),
            Ignore(RetryRequested));

        During(running, Failed, Cancelled, succeeded,
            When(Submitted, IsTheJobsOwn)
                .ThenAsync(JobAcceptance.RespondAsync),
            When(Submitted, context => !IsTheJobsOwn(context))
                .ThenAsync(context => JobAcceptance.RefuseAsync(context, Create(context.Message).TenantId)));

        // Every end is announced to other services, whatever the kind and whichever event led there,
        // through the outbox with the change that made it (Ingestion.Contracts.Jobs.IJobOutcome).
        WhenEnter(succeeded, binder => binder.PublishThroughOutbox(JobOutcomes.Completed));
        WhenEnter(Failed, binder => binder.PublishThroughOutbox(JobOutcomes.Failed));
        WhenEnter(Cancelled, binder => binder.PublishThroughOutbox(JobOutcomes.Cancelled));

        During(queued, running,
            When(WorkStarted, context => Attempts.IsCurrent(context.Saga, context.Message))
                .Then(context => Start(context.Saga, context.Message))
                .TransitionTo(running),
            When(WorkProgressed, context => Attempts.IsCurrent(context.Saga, context.Message))
                .Then(context => Advance(context.Saga, context.Message))
                .TransitionTo(running),
            When(WorkFailed, context => Attempts.IsCurrent(context.Saga, context.Message))
                .Then(context => Fail(context.Saga, context.Message))
                .TransitionTo(Failed),
            When(WorkFaulted, context => Attempts.IsCurrent(context.Saga, context.Message.Message))
                .Then(context => Fault(context.Saga, context.Message))
                .TransitionTo(Failed));

        // A queued job is stopped before a worker picks it; a running one by its worker at its
        // next boundary (a batch, a few pages).
        During(queued, running,
            When(CancelRequested)
                .Then(context => OperatorCommands.Cancel(context.Saga, context.Message))
                .TransitionTo(Cancelled));

        // Work that finishes is the truth, even after a failure or a cancel was recorded (a
        // message redelivered from the error queue, work that ended as the cancel arrived).
        During(queued, running, Failed, Cancelled,
            When(WorkDone, context => Attempts.IsCurrent(context.Saga, context.Message))
                .Then(context => Complete(context.Saga, context.Message))
                .TransitionTo(succeeded));

        During(running,
            Ignore(RetryRequested));

        // Only a retry revives a failed or cancelled job: a late Started or Progressed from the
        // attempt that ended must not make it look alive.
        During(Failed, Cancelled,
            When(RetryRequested)
                .Then(context => Reset(context.Saga))
                .SendThroughOutbox(work.Queue, context => work.Command(context.Saga))
                .TransitionTo(queued),
            Ignore(WorkStarted),
            Ignore(WorkProgressed),
            Ignore(WorkFailed),
            Ignore(WorkFaulted),
            Ignore(CancelRequested));

        During(succeeded,
            Ignore(WorkStarted),
            Ignore(WorkProgressed),
            Ignore(WorkDone),
            Ignore(WorkFailed),
            Ignore(WorkFaulted),
            Ignore(RetryRequested),
            Ignore(CancelRequested));
    }

    public State Failed { get; protected set; } = null!;
    public State Cancelled { get; protected set; } = null!;

    public Event<TSubmit> Submitted { get; protected set; } = null!;
    public Event<TStarted> WorkStarted { get; protected set; } = null!;
    public Event<TProgressed> WorkProgressed { get; protected set; } = null!;
    public Event<TSucceeded> WorkDone { get; protected set; } = null!;
    public Event<TFailed> WorkFailed { get; protected set; } = null!;
    public Event<Fault<TWork>> WorkFaulted { get; protected set; } = null!;
    public Event<RetryJob> RetryRequested { get; protected set; } = null!;
    public Event<CancelJob> CancelRequested { get; protected set; } = null!;

    /// <summary>A job submitted on the bus: its state, as the submit command describes it.</summary>
    protected abstract TJob Create(TSubmit submitted);

    protected abstract void Start(TJob job, TStarted started);

    /// <summary>Progress may arrive out of order: a kind moves its counts only forward.</summary>
    protected abstract void Advance(TJob job, TProgressed progress);

    protected abstract void Complete(TJob job, TSucceeded done);

    protected abstract void Fail(TJob job, TFailed failed);

    /// <summary>What a retry clears of the kind's own progress, after what every job clears; nothing by default.</summary>
    protected virtual void ResetProgress(TJob job)
    {
    }

    /// <summary>Whether a submit command for an existing job comes from the job's tenant (<see cref="Create"/> reads it).</summary>
    private bool IsTheJobsOwn(BehaviorContext<TJob, TSubmit> context) =>
        Create(context.Message).TenantId == context.Saga.TenantId;

    private static void Fault(TJob job, Fault<TWork> fault)
    {
        job.CompletedAt = fault.Timestamp;
        job.Error = JobErrors.From(fault);
    }

    private void Reset(TJob job)
    {
        OperatorCommands.Reset(job);
        ResetProgress(job);
    }
}
