using Ingestion.Contracts;
using Ingestion.Workers.Jobs;
using MassTransit;

namespace Ingestion.Workers.Consumers;

/// <summary>
/// The consumer of a kind's work command: the job layer's frame (<see cref="JobWorker"/>) around the
/// kind's step. A kind declares one line, <c>sealed class XConsumer(JobWorker w, XStep s) : JobWorkConsumer&lt;X&gt;(w, s);</c>,
/// so that its consumer has a name of its own in logs and in the error queue's headers.
/// </summary>
public abstract class JobWorkConsumer<TCommand>(JobWorker worker, IJobStep<TCommand> step) : IConsumer<TCommand>
    where TCommand : class, IAttemptMessage
{
    public Task Consume(ConsumeContext<TCommand> context) => worker.WorkAsync(context, step);
}
