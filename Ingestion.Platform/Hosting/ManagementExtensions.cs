using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Ingestion.Platform.Hosting;

/// <summary>
/// Marks an endpoint as served on the management port; <see cref="AlsoPublic"/> serves it on the public port too.
/// </summary>
public sealed record ManagementEndpoint(bool AlsoPublic = false);

/// <summary>
/// Kestrel listens on the public URLs (<c>Urls</c>) and on <c>Management:Urls</c>. Each request is
/// told apart by the local port it arrived on, not by its Host header (which the caller writes,
/// so <c>RequireHost</c> could be fooled from the public port): a management endpoint asked for
/// on the public port, or any other endpoint on the management port, is answered 404.
/// </summary>
public static class ManagementExtensions
{
    private const string DefaultPublicUrls = "http://localhost:5000";

    public static WebApplicationBuilder AddIngestionManagement(this WebApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<ManagementOptions>(ManagementOptions.Section)
            .Validate(o => o.GaugeInterval >= TimeSpan.Zero, "Management:GaugeInterval must not be negative.");

        var management = Split(builder.Configuration[$"{ManagementOptions.Section}:Urls"]);
        if (management.Length == 0)
        {
            throw new InvalidOperationException(
                "Management:Urls is required: where /health and /metrics are served, apart from the API (e.g. http://+:9090).");
        }

        var publicUrls = Split(builder.Configuration[WebHostDefaults.ServerUrlsKey]);
        if (publicUrls.Length == 0)
        {
            publicUrls = Split(builder.Configuration["http_ports"]) is { Length: > 0 } ports
                ? [.. ports.Select(p => $"http://+:{p}")]
                : [DefaultPublicUrls];
        }

        var managementPorts = Ports(management, "Management:Urls");
        var shared = managementPorts.Intersect(Ports(publicUrls, "Urls")).ToList();
        if (shared.Count > 0 || managementPorts.Contains(0))
        {
            throw new InvalidOperationException(
                $"Management:Urls must name fixed ports of their own; {string.Join(", ", shared.DefaultIfEmpty(0))} is also public or not fixed.");
        }

        builder.Services.AddSingleton(new ManagementPorts(managementPorts));
        builder.WebHost.UseUrls([.. publicUrls, .. management]);
        return builder;
    }

    /// <summary>Answers 404 for an endpoint asked for on the wrong port; runs after routing, before authentication.</summary>
    public static WebApplication UseManagementPort(this WebApplication app)
    {
        var ports = app.Services.GetRequiredService<ManagementPorts>();
        app.Use((context, next) =>
        {
            var marker = context.GetEndpoint()?.Metadata.GetMetadata<ManagementEndpoint>();
            var allowed = ports.Contains(context.Connection.LocalPort) ? marker is not null : marker is null or { AlsoPublic: true };
            if (allowed)
            {
                return next(context);
            }

            context.SetEndpoint(null);
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });
        return app;
    }

    public static TBuilder OnManagementPort<TBuilder>(this TBuilder builder, bool alsoPublic = false)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ManagementEndpoint(alsoPublic));

    private static string[] Split(string? urls) =>
        (urls ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static HashSet<int> Ports(IEnumerable<string> urls, string key) =>
    [
        .. urls.Select(url =>
        {
            try
            {
                return BindingAddress.Parse(url).Port;
            }
            catch (FormatException e)
            {
                throw new InvalidOperationException($"{key}: '{url}' is not a URL Kestrel can listen on ({e.Message}).", e);
            }
        }),
    ];

    private sealed class ManagementPorts(HashSet<int> ports)
    {
        public bool Contains(int port) => ports.Contains(port);
    }
}
