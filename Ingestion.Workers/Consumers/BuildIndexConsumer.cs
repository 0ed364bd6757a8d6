using Ingestion.Contracts.Indexes;
using Ingestion.Workers.Indexes;
using Ingestion.Workers.Jobs;

namespace Ingestion.Workers.Consumers;

/// <summary>Works an index build job one turn at a time: the build itself runs outside the message (IndexBuildSessions).</summary>
public sealed class BuildIndexConsumer(JobWorker worker, IndexBuilder builder) : JobWorkConsumer<BuildIndex>(worker, builder);
