using System.Text.Json;
using Ingestion.Platform.Database;
using Ingestion.Platform.Limits;
using Ingestion.Platform.Sources;
using Ingestion.Platform.Statements;
using Ingestion.Platform.Storage;
using Ingestion.Platform.Tenancy;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Npgsql;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Prometheus;
using Serilog;
using Serilog.Formatting.Compact;

namespace Ingestion.Platform.Hosting;

public static class HostingExtensions
{
    /// <summary>
    /// What the API and the workers share: structured logs, problem details, health checks and
    /// metrics on the management port, PostgreSQL with its migrations, S3, the tenants and their limits.
    /// </summary>
    public static WebApplicationBuilder AddIngestionDefaults(this WebApplicationBuilder builder)
    {
        // JSON lines for log shippers, unless asked otherwise or running on a developer's machine.
        var json = builder.Configuration.GetValue("Logging:Json", !builder.Environment.IsDevelopment());
        builder.Services.AddSerilog((services, logger) =>
        {
            logger.ReadFrom.Configuration(builder.Configuration)
                .ReadFrom.Services(services)
                .Enrich.FromLogContext()
                .Enrich.WithProperty("Service", builder.Environment.ApplicationName);
            if (json)
            {
                logger.WriteTo.Console(new RenderedCompactJsonFormatter());
            }
            else
            {
                logger.WriteTo.Console(outputTemplate:
                    "{Timestamp:HH:mm:ss.fff} {Level:u3} [{SourceContext}] {Message:lj} {JobId}{NewLine}{Exception}");
            }
        });

        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<DependencyUnavailableHandler>();
        builder.Services.AddHealthChecks();
        builder.AddIngestionManagement();
        builder.AddIngestionDatabase();
        builder.AddIngestionStorage();
        builder.AddIngestionTenancy();
        builder.AddIngestionSources();
        builder.AddIngestionStatements();
        builder.AddIngestionTracing();
        builder.AddIngestionLimits();
        return builder;
    }

    /// <summary>
    /// Traces of requests, messages (MassTransit's activities carry the trace through RabbitMQ),
    /// SQL and outgoing HTTP, exported over OTLP (HTTP/protobuf) when <c>OpenTelemetry:Endpoint</c>
    /// names a collector; nothing is collected otherwise.
    /// </summary>
    private static void AddIngestionTracing(this WebApplicationBuilder builder)
    {
        var endpoint = builder.Configuration["OpenTelemetry:Endpoint"];
        if (string.IsNullOrWhiteSpace(endpoint))
        {
            return;
        }

        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var collector) || collector.Scheme is not ("http" or "https"))
        {
            throw new InvalidOperationException($"OpenTelemetry:Endpoint '{endpoint}' is not an http(s) URL of an OTLP collector.");
        }

        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(builder.Environment.ApplicationName))
            .WithTracing(tracing => tracing
                .AddSource(Telemetry.Name, "MassTransit")
                .AddAspNetCoreInstrumentation(options => options.Filter = context =>
                    !context.Request.Path.StartsWithSegments("/health") && !context.Request.Path.StartsWithSegments("/metrics"))
                .AddHttpClientInstrumentation()
                .AddNpgsql()
                .AddOtlpExporter(otlp =>
                {
                    otlp.Protocol = OtlpExportProtocol.HttpProtobuf;
                    otlp.Endpoint = new Uri(collector, "v1/traces");
                }));
    }

    /// <summary>Problem responses for every error, request logs, the health endpoints and metrics.</summary>
    public static WebApplication UseIngestionDefaults(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseSerilogRequestLogging(options =>
        {
            options.GetLevel = (context, _, error) =>
                error is not null || context.Response.StatusCode >= 500 ? Serilog.Events.LogEventLevel.Error
                : context.Request.Path.StartsWithSegments("/health") || context.Request.Path.StartsWithSegments("/metrics")
                    ? Serilog.Events.LogEventLevel.Verbose
                : Serilog.Events.LogEventLevel.Information;

            // A request about a job carries its id like every other line about it.
            options.EnrichDiagnosticContext = (diagnostics, context) =>
            {
                if (context.GetRouteValue("jobId") is string jobId)
                {
                    diagnostics.Set("JobId", jobId);
                }
            };
        });

        // Health and metrics on the management port only (ManagementExtensions). Live (the process
        // answers, nothing is checked or revealed) on the public port too: a load balancer's probe
        // of the port it sends traffic to is the one that says whether that listener works.
        // Ready (PostgreSQL, RabbitMQ and S3 answer) and metrics read the dependencies and say
        // how the service is doing: that is for the inside.
        app.UseManagementPort();
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false }).AllowAnonymous()
            .OnManagementPort(alsoPublic: true);
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(HealthTags.Ready),
            ResponseWriter = WriteHealthAsync,
        }).AllowAnonymous().OnManagementPort();
        app.MapMetrics("/metrics").AllowAnonymous().OnManagementPort();
        return app;
    }

    private static Task WriteHealthAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        return JsonSerializer.SerializeAsync(context.Response.Body, new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(
                e => e.Key,
                e => new { status = e.Value.Status.ToString(), description = e.Value.Description }),
        }, cancellationToken: context.RequestAborted);
    }
}
