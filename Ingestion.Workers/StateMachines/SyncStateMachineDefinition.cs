using Ingestion.Platform.Jobs;
using Ingestion.Platform.Messaging;
using MassTransit;

namespace Ingestion.Workers.StateMachines;

public sealed class SyncStateMachineDefinition : SagaDefinition<SyncJob>
{
    public SyncStateMachineDefinition()
    {
        Endpoint(e => e.Name = Queues.SyncJobs);
    }

    protected override void ConfigureSaga(IReceiveEndpointConfigurator endpointConfigurator,
        ISagaConfigurator<SyncJob> sagaConfigurator, IRegistrationContext context) =>
        JobSagaEndpoint.Configure(endpointConfigurator, context);
}
