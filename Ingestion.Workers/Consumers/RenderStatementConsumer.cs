using Ingestion.Contracts.Statements;
using Ingestion.Workers.Documents;
using MassTransit;

namespace Ingestion.Workers.Consumers;

/// <summary>Renders a statement job's PDF into S3.</summary>
public sealed class RenderStatementConsumer(StatementBuilder builder) : IConsumer<RenderStatement>
{
    public Task Consume(ConsumeContext<RenderStatement> context) =>
        builder.BuildAsync(context.Message, context, context.CancellationToken);
}
