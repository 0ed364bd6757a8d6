using Ingestion.Contracts.Statements;
using Ingestion.Platform.Jobs;
using Ingestion.Workers.Documents;
using Ingestion.Workers.Limits;
using Ingestion.Workers.Sagas;
using MassTransit;

namespace Ingestion.Workers.Consumers;

/// <summary>Renders a statement job's PDF into S3.</summary>
public sealed class RenderStatementConsumer(StatementBuilder builder, TenantSlots slots, JobCancellation states)
    : IConsumer<RenderStatement>
{
    public async Task Consume(ConsumeContext<RenderStatement> context)
    {
        switch (await builder.BuildAsync(context.Message, context, context.CancellationToken))
        {
            case StatementOutcome.Waiting:
                // The tenant is at its limit: its job waits in the queue, and other tenants' jobs go ahead.
                await Requeue.SendAsync(context, slots.Wait);
                break;
            case StatementOutcome.Cancelled
                when await states.StateAsync(context.Message.JobId, context.CancellationToken) == StatementJob.States.Requested:
                // Retried while this worker was still stopping: the retry's message found the job
                // locked and stepped aside as a duplicate, so this one carries the job on.
                await Requeue.SendAsync(context, TimeSpan.Zero);
                break;
        }
    }
}
