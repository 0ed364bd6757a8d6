using Amazon.S3;
using Ingestion.Platform.Messaging;
using Ingestion.Platform.Statements;
using MassTransit;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Ingestion.Workers.Consumers;

public sealed class RenderStatementConsumerDefinition : ConsumerDefinition<RenderStatementConsumer>
{
    private readonly int _concurrentJobs;

    public RenderStatementConsumerDefinition(IOptions<StatementOptions> options)
    {
        // Each render holds up to a volume's memory budget: concurrency is what bounds the worker's memory.
        _concurrentJobs = options.Value.ConcurrentJobs;
        EndpointName = Queues.RenderStatement;
        ConcurrentMessageLimit = _concurrentJobs;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<RenderStatementConsumer> consumerConfigurator, IRegistrationContext context)
    {
        if (endpointConfigurator is IRabbitMqReceiveEndpointConfigurator rabbit)
        {
            rabbit.PrefetchCount = _concurrentJobs;
        }

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
