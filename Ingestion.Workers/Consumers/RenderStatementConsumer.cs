using Ingestion.Contracts.Statements;
using Ingestion.Workers.Documents;
using Ingestion.Workers.Jobs;

namespace Ingestion.Workers.Consumers;

/// <summary>Renders a statement job's PDF into S3.</summary>
public sealed class RenderStatementConsumer(JobWorker worker, StatementBuilder builder) : JobWorkConsumer<RenderStatement>(worker, builder);
