using Ingestion.Platform.Hosting;

namespace Ingestion.Workers.Indexes;

public static class IndexBuildsExtensions
{
    /// <summary>What builds indexes on loaded datasets: its options, the sessions its builds run on, and its step.</summary>
    public static WebApplicationBuilder AddIngestionIndexBuilds(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<IndexBuildOptions>(IndexBuildOptions.Section)
            .Validate(o => o.ConcurrentJobs > 0, "IndexBuilds:ConcurrentJobs must be positive.")
            .Validate(o => o.LockTimeout >= TimeSpan.FromMilliseconds(1), "IndexBuilds:LockTimeout must be at least a millisecond.")
            .Validate(o => o.ProgressInterval > TimeSpan.Zero, "IndexBuilds:ProgressInterval must be positive.")
            .Validate(o => o.MaxHold > TimeSpan.Zero && o.MaxHold < TimeSpan.FromMinutes(25),
                "IndexBuilds:MaxHold must be positive and well under RabbitMQ's 30-minute consumer timeout.")
            .Validate(o => o.MaxStarts > 0, "IndexBuilds:MaxStarts must be positive.");
        builder.Services.AddSingleton<IndexBuildSessions>();
        builder.Services.AddSingleton<IndexBuilder>();
        return builder;
    }
}
