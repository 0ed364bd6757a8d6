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
        ISagaConfigurator<UploadJob> sagaConfigurator, IRegistrationContext context)
    {
        // A concurrent message that created or changed the job first, or PostgreSQL
        // blinking, is retried here while the message is held; then it goes to the error queue.
        endpointConfigurator.UseMessageRetry(retry =>
        {
            retry.Handle<ConcurrencyException>();
            retry.Handle<NpgsqlException>(e => e.IsTransient);
            retry.Exponential(10, TimeSpan.FromMilliseconds(20), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(100));
        });

        // What the state machine publishes leaves only after the job's row is committed.
        endpointConfigurator.UseInMemoryOutbox(context);
    }
}
