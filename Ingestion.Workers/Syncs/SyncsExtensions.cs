using Ingestion.Platform.Hosting;
using Ingestion.Platform.Jobs;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Ingestion.Workers.Syncs;

public static class SyncsExtensions
{
    /// <summary>What sync jobs need on a worker: their options, the shared rate budget, the sources' HTTP client and the step.</summary>
    public static WebApplicationBuilder AddIngestionSyncs(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<SyncOptions>(SyncOptions.Section)
            .Validate(o => o.SliceDuration > TimeSpan.Zero && o.SliceDuration < TimeSpan.FromMinutes(25),
                "Syncs:SliceDuration must be positive and well below RabbitMQ's 30-minute consumer timeout.")
            .Validate(o => o.ConcurrentJobs > 0 && o.MaxAttempts > 0 && o.MaxInlineWait >= TimeSpan.Zero && o.MaxPark > TimeSpan.Zero && o.SchedulePeriod > TimeSpan.Zero
                && o.ScheduleMinute >= TimeSpan.FromSeconds(1) && o.GrantSweepPeriod > TimeSpan.Zero,
                "Syncs:ConcurrentJobs and MaxAttempts must be positive, MaxInlineWait not negative, MaxPark, SchedulePeriod and GrantSweepPeriod positive, ScheduleMinute at least a second.");
        builder.Services.AddSingleton<RateBudget>();
        builder.Services.AddSingleton<SourceHttp>();
        builder.Services.AddSingleton<SyncRunner>();
        builder.Services.TryAddSingleton<JobStore>();
        builder.Services.AddSingleton<SyncScheduler>();
        builder.Services.AddHostedService(services => services.GetRequiredService<SyncScheduler>());
        builder.Services.AddHostedService<RateGrantSweep>();
        return builder;
    }
}
