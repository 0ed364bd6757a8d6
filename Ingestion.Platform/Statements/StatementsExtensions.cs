using Ingestion.Platform.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Ingestion.Platform.Statements;

public static class StatementsExtensions
{
    /// <summary>The statement options, validated at start.</summary>
    public static IHostApplicationBuilder AddIngestionStatements(this IHostApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<StatementOptions>(StatementOptions.Section)
            .Validate(o => o.DownloadLinkLifetime > TimeSpan.Zero && o.DownloadLinkLifetime <= o.MaxDownloadLinkLifetime,
                "Statements:DownloadLinkLifetime must be positive and at most Statements:MaxDownloadLinkLifetime.")
            .Validate(o => o.MaxDownloadLinkLifetime <= TimeSpan.FromDays(7),
                "Statements:MaxDownloadLinkLifetime may be at most 7 days, S3's limit for presigned links.")
            .Validate(o => o.DocumentRetention > TimeSpan.Zero, "Statements:DocumentRetention must be positive.");
        return builder;
    }
}
