using Ingestion.Platform.Jobs;
using MassTransit;

namespace Ingestion.Api.Progress;

/// <summary>
/// Hears every job change on this instance's own auto-deleted queue (each API instance has
/// one, so whichever instance a client reaches can stream any job) and hands it to the feed.
/// </summary>
public sealed class JobChangedConsumer(JobFeed feed) : IConsumer<JobChanged>
{
    public Task Consume(ConsumeContext<JobChanged> context)
    {
        feed.Publish(context.Message);
        return Task.CompletedTask;
    }
}
