using Ingestion.Contracts.Uploads;
using Ingestion.Workers.Uploads;
using MassTransit;

namespace Ingestion.Workers.Consumers;

/// <summary>Loads an upload job's object into its dataset, one slice per message.</summary>
public sealed class ProcessUploadConsumer(UploadProcessor processor) : IConsumer<ProcessUpload>
{
    public async Task Consume(ConsumeContext<ProcessUpload> context)
    {
        var outcome = await processor.ProcessAsync(context.Message, context, context.CancellationToken);
        if (outcome == UploadOutcome.Continue)
        {
            // The checkpoint is committed and the job's lock released: the next slice may start anywhere.
            var queue = await context.GetSendEndpoint(context.ReceiveContext.InputAddress);
            await queue.Send(context.Message, context.CancellationToken);
        }
    }
}
