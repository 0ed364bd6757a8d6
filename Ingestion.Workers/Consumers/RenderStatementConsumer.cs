using Ingestion.Contracts.Statements;
using Ingestion.Workers.Documents;
using Ingestion.Workers.Limits;
using MassTransit;

namespace Ingestion.Workers.Consumers;

/// <summary>Renders a statement job's PDF into S3.</summary>
public sealed class RenderStatementConsumer(StatementBuilder builder, TenantSlots slots) : IConsumer<RenderStatement>
{
    public async Task Consume(ConsumeContext<RenderStatement> context)
    {
        if (!await builder.BuildAsync(context.Message, context, context.CancellationToken))
        {
            // The tenant is at its limit: its job waits in the queue, and other tenants' jobs go ahead.
            await Requeue.SendAsync(context, slots.Wait);
        }
    }
}
