using Ingestion.Platform.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ingestion.Platform.Webhooks;

public static class WebhooksExtensions
{
    /// <summary>The webhook options, the guard both hosts check callback URLs with, and the deliveries table.</summary>
    public static IHostApplicationBuilder AddIngestionWebhooks(this IHostApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<WebhookOptions>(WebhookOptions.Section)
            .Validate(o => o.Backoff.All(b => b > TimeSpan.Zero && b <= TimeSpan.FromDays(7)),
                "Webhooks:Backoff entries must be positive and at most 7 days.")
            .Validate(o => o.Backoff.Count <= 20, "Webhooks:Backoff may list at most 20 retries.")
            .Validate(o => o.Timeout > TimeSpan.Zero && o.Timeout <= TimeSpan.FromMinutes(2),
                "Webhooks:Timeout must be positive and at most 2 minutes.")
            .Validate(o => o.PollInterval > TimeSpan.Zero && o.PollInterval <= TimeSpan.FromMinutes(5),
                "Webhooks:PollInterval must be positive and at most 5 minutes.")
            .Validate(o => o.AllowedHosts.All(h => Uri.CheckHostName(h) != UriHostNameType.Unknown),
                "Webhooks:AllowedHosts must list host names (no scheme, port or path).");
        builder.Services.AddSingleton<CallbackGuard>();
        builder.Services.AddSingleton<WebhookDeliveries>();
        return builder;
    }
}
