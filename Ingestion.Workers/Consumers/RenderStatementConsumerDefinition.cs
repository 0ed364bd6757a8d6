using Ingestion.Platform.Messaging;
using Ingestion.Platform.Statements;
using Microsoft.Extensions.Options;

namespace Ingestion.Workers.Consumers;

/// <summary>Each render holds up to a volume's memory budget: its concurrency is what bounds the worker's memory.</summary>
public sealed class RenderStatementConsumerDefinition(IOptions<StatementOptions> options)
    : JobWorkConsumerDefinition<RenderStatementConsumer>(Queues.RenderStatement, options.Value.ConcurrentJobs);
