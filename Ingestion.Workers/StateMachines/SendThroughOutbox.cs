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
