using Ingestion.Contracts.Syncs;
using Ingestion.Workers.Jobs;
using Ingestion.Workers.Syncs;

namespace Ingestion.Workers.Consumers;

/// <summary>Pulls a sync job's source into its dataset, one time slice per message.</summary>
public sealed class RunSyncConsumer(JobWorker worker, SyncRunner runner) : JobWorkConsumer<RunSync>(worker, runner);
