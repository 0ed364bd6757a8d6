using Ingestion.Platform.Jobs;
using MassTransit;
using Ingestion.Platform.Messaging;
using Npgsql;

namespace Ingestion.Workers.StateMachines;

public sealed class UploadStateMachineDefinition : SagaDefinition<UploadJob>
{
    public UploadStateMachineDefinition()
    {
        Endpoint(e => e.Name = Queues.UploadJobs);
    }

    protected override void ConfigureSaga(IReceiveEndpointConfigurator endpointConfigurator,
        ISagaConfigurator<UploadJob> sagaConfigurator, IRegistrationContext context) =>
        JobSagaEndpoint.Configure(endpointConfigurator, context);
}

/// <summary>How every job saga's endpoint runs.</summary>
internal static class JobSagaEndpoint
{
    public static void Configure(IReceiveEndpointConfigurator endpoint, IRegistrationContext context)
    {
        // A concurrent message that created or changed the job first, or PostgreSQL
        // blinking, is retried here while the message is held; then it goes to the error queue.
        endpoint.UseMessageRetry(retry =>
        {
            retry.Handle<ConcurrencyException>();
            retry.Handle<NpgsqlException>(e => e.IsTransient);
            retry.Exponential(10, TimeSpan.FromMilliseconds(20), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(100));
        });

        // A submit command a kind refuses (ISubmitCheck) faults here, before it can become a job.
        endpoint.UseConsumeFilter(typeof(SubmitCheckFilter<>), context);

        // Commands go through the PostgreSQL outbox with the job's row (SendThroughOutbox); what is
        // left (JobChanged, UploadReceived: news, not work) is published only once the row is committed.
        endpoint.UseInMemoryOutbox(context);
    }
}
