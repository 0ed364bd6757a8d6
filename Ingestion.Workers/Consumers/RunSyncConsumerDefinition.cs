using Ingestion.Platform.Messaging;
using Ingestion.Workers.Syncs;
using Microsoft.Extensions.Options;

namespace Ingestion.Workers.Consumers;

/// <summary>A sync mostly waits on the upstream and its budget; its concurrency bounds the pages a worker holds in memory.</summary>
public sealed class RunSyncConsumerDefinition(IOptions<SyncOptions> options)
    : JobWorkConsumerDefinition<RunSyncConsumer>(Queues.RunSync, options.Value.ConcurrentJobs);
