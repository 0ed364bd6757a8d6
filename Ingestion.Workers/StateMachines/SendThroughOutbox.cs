using Ingestion.Platform.Jobs;
using Ingestion.Platform.Outbox;
using Ingestion.Workers.Sagas;
using MassTransit;

namespace Ingestion.Workers.StateMachines;

public static class SendThroughOutboxExtensions
{
    /// <summary>
    /// Sends a command as part of the job's change: it is written to <c>ingestion.outbox</c> in the
    /// saga's own transaction, so it exists exactly when the change is committed, and the relay
    /// sends it whatever happens to this process after the commit.
    /// </summary>
    public static EventActivityBinder<TJob, TData> SendThroughOutbox<TJob, TData, TCommand>(
        this EventActivityBinder<TJob, TData> binder, Uri queue, Func<BehaviorContext<TJob, TData>, TCommand> command)
        where TJob : JobState
        where TData : class
        where TCommand : class =>
        binder.Add(new SendThroughOutboxActivity<TJob, TData, TCommand>(queue, command));

    /// <summary>
    /// Publishes an event as part of the job's change, the same way: written to the outbox in the saga's
    /// transaction, so a service awaiting it gets it exactly when the change is committed, even if this
    /// process dies right after the commit. For <c>WhenEnter</c>, whatever event led there.
    /// </summary>
    public static EventActivityBinder<TJob> PublishThroughOutbox<TJob, TEvent>(this EventActivityBinder<TJob> binder, Func<TJob, TEvent> @event)
        where TJob : JobState
        where TEvent : class =>
        binder.Add(new PublishThroughOutboxActivity<TJob, TEvent>(@event));
}

/// <summary>
/// MassTransit's send activity would hand the command to the endpoint's in-memory outbox, which
/// sends it after the commit: a crash in between loses it while the job says it was sent.
/// Without a job transaction (the in-memory test harness) the command is sent as MassTransit sends.
/// </summary>
internal sealed class SendThroughOutboxActivity<TJob, TData, TCommand>(Uri queue, Func<BehaviorContext<TJob, TData>, TCommand> command)
    : IStateMachineActivity<TJob, TData>
    where TJob : JobState
    where TData : class
    where TCommand : class
{
    public async Task Execute(BehaviorContext<TJob, TData> context, IBehavior<TJob, TData> next)
    {
        var message = command(context);
        if (context.TryGetPayload<JobSagaTransaction<TJob>>(out var transaction))
        {
            await Outbox.AddAsync(transaction.Connection, message, queue, context.CancellationToken);
        }
        else
        {
            var endpoint = await context.GetSendEndpoint(queue);
            await endpoint.Send(message, context.CancellationToken);
        }

        await next.Execute(context);
    }

    public Task Faulted<TException>(BehaviorExceptionContext<TJob, TData, TException> context, IBehavior<TJob, TData> next)
        where TException : Exception =>
        next.Faulted(context);

    public void Accept(StateMachineVisitor visitor) => visitor.Visit(this);

    public void Probe(ProbeContext context) => context.CreateScope("send-through-outbox").Add("queue", queue);
}

/// <summary>The publish counterpart of <see cref="SendThroughOutboxActivity{TJob,TData,TCommand}"/>.</summary>
internal sealed class PublishThroughOutboxActivity<TJob, TEvent>(Func<TJob, TEvent> @event) : IStateMachineActivity<TJob>
    where TJob : JobState
    where TEvent : class
{
    public async Task Execute(BehaviorContext<TJob> context, IBehavior<TJob> next)
    {
        await PublishAsync(context);
        await next.Execute(context);
    }

    public async Task Execute<T>(BehaviorContext<TJob, T> context, IBehavior<TJob, T> next)
        where T : class
    {
        await PublishAsync(context);
        await next.Execute(context);
    }

    public Task Faulted<TException>(BehaviorExceptionContext<TJob, TException> context, IBehavior<TJob> next)
        where TException : Exception =>
        next.Faulted(context);

    public Task Faulted<T, TException>(BehaviorExceptionContext<TJob, T, TException> context, IBehavior<TJob, T> next)
        where T : class
        where TException : Exception =>
        next.Faulted(context);

    public void Accept(StateMachineVisitor visitor) => visitor.Visit(this);

    public void Probe(ProbeContext context) => context.CreateScope("publish-through-outbox").Add("event", typeof(TEvent).Name);

    private async Task PublishAsync(BehaviorContext<TJob> context)
    {
        var message = @event(context.Saga);
        if (context.TryGetPayload<JobSagaTransaction<TJob>>(out var transaction))
        {
            await Outbox.AddAsync(transaction.Connection, message, null, context.CancellationToken);
        }
        else
        {
            await context.Publish(message, context.CancellationToken);
        }
    }
}
