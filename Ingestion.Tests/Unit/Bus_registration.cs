using Ingestion.Platform.Messaging;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Ingestion.Tests.Unit;

/// <summary>
/// MassTransit 8.4+ reports how a bus is configured to usage-tracking.masstransit.io unless told not to: every host's bus
/// (the API's, the workers') is registered with it off, so nothing of the service leaves its network. Checked on the
/// registration itself, before any bus starts, so a regression fails here without a packet sent.
/// </summary>
public sealed class Bus_registration
{
    [Test]
    public void Should_register_every_host_bus_with_usage_telemetry_off()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.AddIngestionBus(_ => { });
        using var services = builder.Services.BuildServiceProvider();

        Assert.That(services.GetRequiredService<IOptions<UsageTelemetryOptions>>().Value.Enabled, Is.False);
    }
}
