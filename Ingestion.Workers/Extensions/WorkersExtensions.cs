using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Hosting;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Messaging;
using Ingestion.Platform.Webhooks;
using Ingestion.Workers.Consumers;
using Ingestion.Workers.Documents;
using Ingestion.Workers.Indexes;
using Ingestion.Workers.Jobs;
using Ingestion.Workers.Limits;
using Ingestion.Workers.Reaper;
using Ingestion.Workers.Retention;
using Ingestion.Workers.Sagas;
using Ingestion.Workers.StateMachines;
using Ingestion.Workers.Syncs;
using Ingestion.Workers.Uploads;
using Ingestion.Workers.Webhooks;
using MassTransit;

namespace Ingestion.Workers.Extensions;

public static class WorkersExtensions
{
    /// <summary>
    /// The job state machines, persisted in PostgreSQL, and the consumers that do the work, of the kinds this worker runs
    /// (<see cref="WorkerJobs"/>, <c>Workers:Jobs</c>); and what every worker runs: the webhook sender, the reaper and
    /// retention.
    /// </summary>
    public static WebApplicationBuilder AddIngestionWorkers(this WebApplicationBuilder builder)
    {
        var jobs = WorkerJobs.Parse(builder.Configuration[WorkerJobs.Setting]);
        builder.Services.AddSingleton(jobs);
        builder.Services.AddValidatedOptions<UploadProcessingOptions>(UploadProcessingOptions.Section)
            .Validate(o => o.SliceDuration > TimeSpan.Zero && o.SliceDuration < TimeSpan.FromMinutes(25),
                "Processing:SliceDuration must be positive and well below RabbitMQ's 30-minute consumer timeout.");
        builder.Services.AddSingleton<JobCancellation>();
        builder.Services.AddSingleton<TenantSlots>();
        builder.Services.AddSingleton<JobWorker>();
        builder.Services.AddHostedService<NativeHeap.Trimmer>();
        if (jobs.Runs(UploadJob.Descriptor))
        {
            builder.Services.AddSingleton<UploadProcessor>();

            // What a job submitted on the bus must pass before it exists (JobAcceptance).
            builder.Services.AddSingleton<ISubmitCheck<SubmitUpload>, UploadSubmitCheck>();
        }

        if (jobs.Runs(StatementJob.Descriptor))
        {
            builder.Services.AddHostedService<SystemFontResolver.Installer>();
            builder.Services.AddSingleton<StatementBuilder>();
        }

        if (jobs.Runs(SyncJob.Descriptor))
        {
            builder.AddIngestionSyncs();
        }

        if (jobs.Runs(IndexBuildJob.Descriptor))
        {
            builder.AddIngestionIndexBuilds();
        }

        builder.AddIngestionWebhooks();
        builder.Services.AddSingleton<WebhookClient>();
        builder.Services.AddHostedService<WebhookSender>();
        builder.AddIngestionBus(bus =>
        {
            bus.AddJobKind<UploadStateMachine, UploadJob, ProcessUploadConsumer>(jobs,
                typeof(UploadStateMachineDefinition), typeof(ProcessUploadConsumerDefinition));
            bus.AddJobKind<StatementStateMachine, StatementJob, RenderStatementConsumer>(jobs,
                typeof(StatementStateMachineDefinition), typeof(RenderStatementConsumerDefinition));
            bus.AddJobKind<SyncStateMachine, SyncJob, RunSyncConsumer>(jobs,
                typeof(SyncStateMachineDefinition), typeof(RunSyncConsumerDefinition));
            bus.AddJobKind<IndexBuildStateMachine, IndexBuildJob, BuildIndexConsumer>(jobs,
                typeof(IndexBuildStateMachineDefinition), typeof(BuildIndexConsumerDefinition));
        });

        // Every kind's, whatever this worker runs: the reaper sends any kind's work again, to that kind's workers.
        builder.Services.AddSingleton<JobWork>(UploadStateMachine.Work);
        builder.Services.AddSingleton<JobWork>(StatementStateMachine.Work);
        builder.Services.AddSingleton<JobWork>(SyncStateMachine.Work);
        builder.Services.AddSingleton<JobWork>(IndexBuildStateMachine.Work);

        builder.AddIngestionRetention();
        builder.AddIngestionReaper();
        return builder;
    }

    /// <summary>
    /// A kind's state machine, persisted in <c>ingestion.jobs</c>, and the consumer that does its work, on a worker that
    /// runs the kind (<see cref="WorkerJobs"/>); nothing on one that does not, so it neither declares nor consumes their queues.
    /// </summary>
    private static void AddJobKind<TStateMachine, TJob, TConsumer>(this IBusRegistrationConfigurator bus, WorkerJobs jobs,
        Type stateMachineDefinition, Type consumerDefinition)
        where TStateMachine : class, SagaStateMachine<TJob>
        where TJob : JobState
        where TConsumer : class, IConsumer
    {
        if (!jobs.Runs(JobKinds.Of(typeof(TJob))))
        {
            return;
        }

        bus.AddSagaStateMachine<TStateMachine, TJob>(stateMachineDefinition).JobRepository();
        bus.AddConsumer<TConsumer>(consumerDefinition);
    }

    /// <summary>The recurring search for stranded jobs, whose work it sends again.</summary>
    public static WebApplicationBuilder AddIngestionReaper(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<ReaperOptions>(ReaperOptions.Section)
            .Validate(o => o.Period > TimeSpan.Zero, "Reaper:Period must be positive.")
            .Validate(o => o.StaleAfter > TimeSpan.FromSeconds(1), "Reaper:StaleAfter must be longer than a second: progress is reported every 250 ms.")
            .Validate(o => o.BatchSize > 0, "Reaper:BatchSize must be positive.");
        builder.Services.AddHostedService<JobReaper>();
        return builder;
    }

    /// <summary>The recurring purge of old jobs, their files and their history.</summary>
    public static WebApplicationBuilder AddIngestionRetention(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<RetentionOptions>(RetentionOptions.Section)
            .Validate(o => o.Period > TimeSpan.Zero, "Retention:Period must be positive.")
            .Validate(o => o.Jobs > TimeSpan.Zero, "Retention:Jobs must be positive.");
        builder.Services.AddSingleton<JobPurge>();
        builder.Services.AddHostedService<RetentionService>();
        return builder;
    }
}
