using Ingestion.Platform.Hosting;

namespace Ingestion.Workers.Indexes;

public static class IndexBuildsExtensions
{
    /// <summary>What builds indexes on loaded datasets: its options and its step.</summary>
    public static WebApplicationBuilder AddIngestionIndexBuilds(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<IndexBuildOptions>(IndexBuildOptions.Section)
            .Validate(o => o.ConcurrentJobs > 0, "IndexBuilds:ConcurrentJobs must be positive.")
            .Validate(o => o.LockTimeout >= TimeSpan.FromMilliseconds(1), "IndexBuilds:LockTimeout must be at least a millisecond.")
            .Validate(o => o.ProgressInterval > TimeSpan.Zero, "IndexBuilds:ProgressInterval must be positive.");
        builder.Services.AddSingleton<IndexBuilder>();
        return builder;
    }
}
