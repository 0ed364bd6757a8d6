using Ingestion.Platform.Jobs;
using Ingestion.Platform.Messaging;
using Ingestion.Workers.Consumers;
using Ingestion.Workers.Sagas;
using Ingestion.Workers.StateMachines;

namespace Ingestion.Workers.Extensions;

public static class WorkersExtensions
{
    /// <summary>The job state machines, persisted in PostgreSQL, and the consumers that do the work.</summary>
    public static WebApplicationBuilder AddIngestionWorkers(this WebApplicationBuilder builder)
    {
        builder.AddIngestionBus(bus =>
        {
            bus.AddSagaStateMachine<UploadStateMachine, UploadJob>(typeof(UploadStateMachineDefinition)).JobRepository();
            bus.AddConsumer<ProcessUploadConsumer>();
        });
        return builder;
    }
}
