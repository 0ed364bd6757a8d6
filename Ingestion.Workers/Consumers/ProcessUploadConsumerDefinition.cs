using Ingestion.Platform.Messaging;
using Ingestion.Workers.Uploads;
using Microsoft.Extensions.Options;

namespace Ingestion.Workers.Consumers;

public sealed class ProcessUploadConsumerDefinition(IOptions<UploadProcessingOptions> options)
    : JobWorkConsumerDefinition<ProcessUploadConsumer>(Queues.ProcessUpload, options.Value.ConcurrentJobs);
