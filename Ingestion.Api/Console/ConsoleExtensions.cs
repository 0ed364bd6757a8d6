using System.Security.Cryptography;
using Ingestion.Api.Security;
using Ingestion.Platform.Hosting;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Options;
using Scalar.AspNetCore;

namespace Ingestion.Api.Console;

/// <summary>
/// The web console, served by the API itself at <c>/console/</c> (plain files, no build step),
/// its sessions, CORS for frontends on other origins, and the API reference at <c>/reference</c>.
/// </summary>
public static class ConsoleExtensions
{
    public const string ConsolePath = "/console";
    public const string ReferencePath = "/reference";

    public static WebApplicationBuilder AddIngestionConsole(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<ConsoleOptions>(ConsoleOptions.Section);
        builder.Services.AddValidatedOptions<CorsSettings>(CorsSettings.Section);
        builder.Services.AddSingleton<ConsoleSessions>();
        builder.Services.AddCors();
        builder.Services.AddOptions<CorsOptions>().Configure<IOptions<CorsSettings>>((cors, settings) =>
            cors.AddDefaultPolicy(policy =>
            {
                policy.WithOrigins([.. settings.Value.AllowedOrigins])
                    .WithMethods("GET", "POST", "PUT", "PATCH", "DELETE")
                    .WithHeaders("Content-Type", ApiKeyAuthenticationHandler.Header, CsrfProtection.Header, "Idempotency-Key",
                        "If-None-Match", "Last-Event-ID")
                    .WithExposedHeaders("Location", "ETag", "Retry-After", "Idempotent-Replayed", "Link")
                    .SetPreflightMaxAge(TimeSpan.FromSeconds(settings.Value.PreflightMaxAgeSeconds));
                if (settings.Value.AllowCredentials)
                {
                    policy.AllowCredentials();
                }
            }));
        return builder;
    }

    /// <summary>
    /// Before authentication: CORS (a preflight is answered here, without credentials, as browsers
    /// send it) and the console's files, which hold no data and need no sign-in.
    /// </summary>
    public static WebApplication UseIngestionConsole(this WebApplication app)
    {
        app.UseCors();
        var files = new PhysicalFileProvider(Path.Combine(app.Environment.WebRootPath, "console"));
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files, RequestPath = ConsolePath });
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = files,
            RequestPath = ConsolePath,
            OnPrepareResponse = file =>
            {
                ConsoleHeaders.Apply(file.Context.Response, ConsoleHeaders.ConsolePolicy);
                ConsoleHeaders.Revalidate(file.Context.Response);
            },
        });
        return app;
    }

    /// <summary>
    /// After authorization: a cookie-signed state change must carry the session's CSRF token. Only
    /// then is the caller the one the endpoint acts for: an endpoint whose policy names the session
    /// scheme (<c>DELETE /v1/session</c>) authenticates the cookie there, even when the request also
    /// carries an <c>X-Api-Key</c> that the default scheme tried first.
    /// </summary>
    public static WebApplication UseCsrfProtection(this WebApplication app)
    {
        app.UseMiddleware<CsrfProtection>();
        return app;
    }

    public static WebApplication MapIngestionConsole(this WebApplication app)
    {
        app.MapSessionApi();
        app.MapGet("/", () => TypedResults.Redirect(ConsolePath + "/")).AllowAnonymous().ExcludeFromDescription();

        // Scalar's page and assets come from its package (no CDN, no fonts or telemetry from elsewhere).
        // Its page starts with one inline module: allowed by a per-request nonce, nothing else inline.
        app.MapScalarApiReference(ReferencePath, (options, context) =>
        {
            var nonce = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
            options.WithTitle("Ingestion API reference")
                .WithOpenApiRoutePattern("/openapi/{documentName}.json")
                .WithNonce(nonce)
                .DisableDefaultFonts()
                .DisableTelemetry()
                .DisableAgent()
                .DisableMcp();
            ConsoleHeaders.Apply(context.Response,
                $"default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
                "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
        }).AllowAnonymous();
        return app;
    }
}
