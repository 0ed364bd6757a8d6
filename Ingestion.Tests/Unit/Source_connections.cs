using System.Net;
using System.Net.Sockets;
using Ingestion.Workers.Syncs;
using Microsoft.Extensions.Options;

namespace Ingestion.Tests.Unit;

/// <summary>Where a sync's requests connect: only to the addresses the source guard approved, checked again at each connect.</summary>
public sealed class Source_connections
{
    [Test]
    public void Should_not_connect_when_the_approved_addresses_are_refused_whatever_the_name_resolves_to()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var http = new SourceHttp(Options.Create(new SyncOptions()));
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://localhost:{port}/");
        SourceHttp.Approve(request, [IPAddress.Loopback]);

        Assert.ThrowsAsync<HttpRequestException>(() => http.SendAsync(request, TimeSpan.FromSeconds(5), CancellationToken.None));
        Assert.That(listener.Pending(), Is.False, "nothing reached the loopback listener");
    }

    [Test]
    public async Task Should_connect_an_allow_listed_host_as_dns_says()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var http = new SourceHttp(Options.Create(new SyncOptions()));
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{port}/");
        SourceHttp.Approve(request, null);

        var sending = http.SendAsync(request, TimeSpan.FromSeconds(2), CancellationToken.None);
        using var accepted = await listener.AcceptTcpClientAsync().WaitAsync(TimeSpan.FromSeconds(5));

        Assert.That(accepted.Connected, Is.True);
        Assert.ThrowsAsync<TimeoutException>(() => sending, "the listener never answers");
    }
}
