using Ingestion.Platform.Jobs;
using Ingestion.Platform.Messaging;
using MassTransit;

namespace Ingestion.Workers.StateMachines;

public sealed class IndexBuildStateMachineDefinition : SagaDefinition<IndexBuildJob>
{
    public IndexBuildStateMachineDefinition()
    {
        Endpoint(e => e.Name = Queues.IndexBuildJobs);
    }

    protected override void ConfigureSaga(IReceiveEndpointConfigurator endpointConfigurator,
        ISagaConfigurator<IndexBuildJob> sagaConfigurator, IRegistrationContext context) =>
        JobSagaEndpoint.Configure(endpointConfigurator, context);
}
