using Amazon.S3;
using MassTransit;
using Npgsql;

namespace Ingestion.Workers.Consumers;

/// <summary>
/// The endpoint of a consumer that does a job's work: as many jobs at once as configured,
/// prefetching no more than that, and retrying the failures that pass.
/// </summary>
public abstract class JobWorkConsumerDefinition<TConsumer> : ConsumerDefinition<TConsumer>
    where TConsumer : class, IConsumer
{
    private readonly int _concurrentJobs;

    protected JobWorkConsumerDefinition(string queue, int concurrentJobs)
    {
        _concurrentJobs = concurrentJobs;
        EndpointName = queue;
        ConcurrentMessageLimit = concurrentJobs;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<TConsumer> consumerConfigurator, IRegistrationContext context)
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
