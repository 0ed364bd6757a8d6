using Amazon.S3;
using Ingestion.Workers.Uploads;
using MassTransit;
using Microsoft.Extensions.Options;
using Ingestion.Platform.Messaging;
using Npgsql;

namespace Ingestion.Workers.Consumers;

public sealed class ProcessUploadConsumerDefinition : ConsumerDefinition<ProcessUploadConsumer>
{
    private readonly int _concurrentJobs;

    public ProcessUploadConsumerDefinition(IOptions<UploadProcessingOptions> options)
    {
        _concurrentJobs = options.Value.ConcurrentJobs;
        EndpointName = Queues.ProcessUpload;
        ConcurrentMessageLimit = _concurrentJobs;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<ProcessUploadConsumer> consumerConfigurator, IRegistrationContext context)
    {
        if (endpointConfigurator is IRabbitMqReceiveEndpointConfigurator rabbit)
        {
            rabbit.PrefetchCount = _concurrentJobs;
        }

        // Failures that pass (PostgreSQL restarting, S3 dropping a stream) are retried here;
        // each attempt resumes from the job's checkpoint. Anything else faults the job at once.
        endpointConfigurator.UseMessageRetry(retry =>
        {
            retry.Handle<NpgsqlException>(e => e.IsTransient);
            retry.Handle<IOException>();
            retry.Handle<HttpRequestException>();
            retry.Handle<AmazonS3Exception>(e => (int)e.StatusCode >= 500);
            retry.Intervals(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15));
        });
    }
}
