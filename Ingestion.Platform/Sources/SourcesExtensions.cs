using Ingestion.Platform.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ingestion.Platform.Sources;

public static class SourcesExtensions
{
    /// <summary>Sources' catalog, secrets and address guard; the host refuses to start without a valid <c>Sources:SecretKey</c>.</summary>
    public static IHostApplicationBuilder AddIngestionSources(this IHostApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<SourceOptions>(SourceOptions.Section)
            .Validate(o => SourceSecrets.TryDecodeKey(o.SecretKey, out _), "Sources:SecretKey must be 32 bytes in base64 (openssl rand -base64 32).");
        builder.Services.AddSingleton<SourceSecrets>();
        builder.Services.AddSingleton<SourceCatalog>();
        builder.Services.AddSingleton<SourceGuard>();
        return builder;
    }
}
