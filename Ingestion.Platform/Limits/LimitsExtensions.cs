using Ingestion.Platform.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ingestion.Platform.Limits;

public static class LimitsExtensions
{
    /// <summary>The per-tenant limits: the API enforces the job rate, the workers the concurrency.</summary>
    public static IHostApplicationBuilder AddIngestionLimits(this IHostApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<LimitOptions>(LimitOptions.Section)
            .Validate(o => o.SlotWait >= TimeSpan.Zero && o.SlotWait <= TimeSpan.FromMinutes(1),
                "Limits:SlotWait must be between 0 and 1 minute: a worker holds the message while it pauses.")
            .Validate(o => o.UploadRetryAfter >= TimeSpan.FromSeconds(1) && o.UploadRetryAfter <= TimeSpan.FromHours(1),
                "Limits:UploadRetryAfter must be between 1 second and 1 hour.");
        builder.Services.AddSingleton<JobRateLimit>();
        builder.Services.AddSingleton<IntakeSlots>();
        return builder;
    }
}
