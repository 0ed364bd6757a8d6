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
            case StatementOutcome.Cancelled:
                await Requeue.IfRetriedAsync(context, states, StatementJob.States.Requested);
                break;
        }
    }
}
