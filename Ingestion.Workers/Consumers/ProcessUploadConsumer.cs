using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Jobs;
using Ingestion.Workers.Limits;
using Ingestion.Workers.Sagas;
using Ingestion.Workers.Uploads;
using MassTransit;

namespace Ingestion.Workers.Consumers;

/// <summary>Loads an upload job's object into its dataset, one slice per message.</summary>
public sealed class ProcessUploadConsumer(UploadProcessor processor, TenantSlots slots, JobCancellation states)
    : IConsumer<ProcessUpload>
{
    public async Task Consume(ConsumeContext<ProcessUpload> context)
    {
        switch (await processor.ProcessAsync(context.Message, context, context.CancellationToken))
        {
            case UploadOutcome.Continue:
                // The checkpoint is committed and the job's lock released: the next slice may start anywhere.
                await Requeue.SendAsync(context, TimeSpan.Zero);
                break;
            case UploadOutcome.Waiting:
                // The tenant is at its limit: its job waits in the queue, and other tenants' jobs go ahead.
                await Requeue.SendAsync(context, slots.Wait);
                break;
            case UploadOutcome.Cancelled:
                await Requeue.IfRetriedAsync(context, states, UploadJob.States.Uploaded);
                break;
        }
    }
}
