using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Storage;
using MassTransit;

namespace Ingestion.Workers.Consumers;

/// <summary>Picks up an upload job: reports that processing started and how big the object is.</summary>
public sealed class ProcessUploadConsumer(ObjectStore store) : IConsumer<ProcessUpload>
{
    public async Task Consume(ConsumeContext<ProcessUpload> context)
    {
        var job = context.Message;
        var size = await store.SizeAsync(job.Bucket, job.Key, context.CancellationToken);
        if (size is null)
        {
            await context.Publish(new UploadFailed(job.JobId, "object_missing",
                $"The object s3://{job.Bucket}/{job.Key} does not exist.", 0, 0, 0, null, DateTimeOffset.UtcNow));
            return;
        }

        await context.Publish(new UploadProcessingStarted(job.JobId, size.Value, DateTimeOffset.UtcNow));
    }
}
