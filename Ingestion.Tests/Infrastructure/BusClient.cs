using MassTransit;

namespace Ingestion.Tests.Infrastructure;

/// <summary>An internal service on the bus: it starts jobs by publishing Ingestion.Contracts commands.</summary>
public sealed class BusClient : IAsyncDisposable
{
    private readonly IBusControl _bus;

    private BusClient(IBusControl bus) => _bus = bus;

    public IBus Bus => _bus;

    public static async Task<BusClient> ConnectAsync(Sandbox sandbox)
    {
        var servers = sandbox.Servers;
        var bus = MassTransit.Bus.Factory.CreateUsingRabbitMq(rabbit => rabbit.Host(servers.RabbitHost, (ushort)servers.RabbitPort,
            sandbox.VirtualHost, host =>
            {
                host.Username(servers.RabbitUser);
                host.Password(servers.RabbitPassword);
            }));
        await bus.StartAsync();
        return new BusClient(bus);
    }

    public async ValueTask DisposeAsync() => await _bus.StopAsync();
}
