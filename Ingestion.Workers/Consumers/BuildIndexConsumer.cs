using Ingestion.Contracts.Indexes;
using Ingestion.Workers.Indexes;
using Ingestion.Workers.Jobs;

namespace Ingestion.Workers.Consumers;

/// <summary>Builds an index build job's index, in one message: a concurrent build has no checkpoint to resume from.</summary>
public sealed class BuildIndexConsumer(JobWorker worker, IndexBuilder builder) : JobWorkConsumer<BuildIndex>(worker, builder);
