using Ingestion.Platform.Messaging;
using Ingestion.Workers.Indexes;
using Microsoft.Extensions.Options;

namespace Ingestion.Workers.Consumers;

/// <summary>A build scans and sorts a whole table on the database server: its concurrency bounds that load, not the worker's memory.</summary>
public sealed class BuildIndexConsumerDefinition(IOptions<IndexBuildOptions> options)
    : JobWorkConsumerDefinition<BuildIndexConsumer>(Queues.BuildIndex, options.Value.ConcurrentJobs);
