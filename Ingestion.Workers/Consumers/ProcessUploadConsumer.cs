using Ingestion.Contracts.Uploads;
using Ingestion.Workers.Jobs;
using Ingestion.Workers.Uploads;

namespace Ingestion.Workers.Consumers;

/// <summary>Loads an upload job's object into its dataset, one slice per message.</summary>
public sealed class ProcessUploadConsumer(JobWorker worker, UploadProcessor processor) : JobWorkConsumer<ProcessUpload>(worker, processor);
