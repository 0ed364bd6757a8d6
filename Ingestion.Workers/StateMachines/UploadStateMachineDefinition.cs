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

        // What the state machine sends leaves only after the job's row is committed.
        endpoint.UseInMemoryOutbox(context);
    }
}
