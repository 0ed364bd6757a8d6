using Ingestion.Platform.Jobs;
using Ingestion.Platform.Messaging;
using MassTransit;

namespace Ingestion.Workers.StateMachines;

public sealed class StatementStateMachineDefinition : SagaDefinition<StatementJob>
{
    public StatementStateMachineDefinition()
    {
        Endpoint(e => e.Name = Queues.StatementJobs);
    }

    protected override void ConfigureSaga(IReceiveEndpointConfigurator endpointConfigurator,
        ISagaConfigurator<StatementJob> sagaConfigurator, IRegistrationContext context) =>
        JobSagaEndpoint.Configure(endpointConfigurator, context);
}
