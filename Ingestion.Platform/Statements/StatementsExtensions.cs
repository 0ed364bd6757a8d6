using Ingestion.Platform.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using PdfSharp;

namespace Ingestion.Platform.Statements;

public static class StatementsExtensions
{
    /// <summary>The statement options, and PDFsharp's licence loaded before anything uses it.</summary>
    public static IHostApplicationBuilder AddIngestionStatements(this IHostApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<StatementOptions>(StatementOptions.Section)
            .Validate(o => o.DownloadLinkLifetime > TimeSpan.Zero && o.DownloadLinkLifetime <= o.MaxDownloadLinkLifetime,
                "Statements:DownloadLinkLifetime must be positive and at most Statements:MaxDownloadLinkLifetime.")
            .Validate(o => o.MaxDownloadLinkLifetime <= TimeSpan.FromDays(7),
                "Statements:MaxDownloadLinkLifetime may be at most 7 days, S3's limit for presigned links.")
            .Validate(o => o.DocumentRetention > TimeSpan.Zero, "Statements:DocumentRetention must be positive.");
        builder.Services.AddHostedService<PdfSharpLicensing>();
        return builder;
    }

    /// <summary>
    /// PDFsharp 6.5 (the only version in our package feed) is dual-licensed: AGPL-3.0, or a
    /// commercial licence. Without <c>Statements:PdfSharpLicenseKey</c> it runs under the AGPL;
    /// see README.md before shipping the service beyond the organisation.
    /// </summary>
    private sealed class PdfSharpLicensing(IOptions<StatementOptions> options) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            if (string.IsNullOrWhiteSpace(options.Value.PdfSharpLicenseKey))
            {
                PdfSharpLicense.SetAgplLicense();
            }
            else
            {
                PdfSharpLicense.LoadLicense(options.Value.PdfSharpLicenseKey);
            }

            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
