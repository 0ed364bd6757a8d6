using System.Net;
using System.Net.Sockets;
using Ingestion.Platform.Sources;
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

    [Test]
    public void Should_refuse_a_body_over_the_page_limit_as_page_too_large_whether_or_not_it_declares_its_length()
    {
        using var http = new SourceHttp(Options.Create(new SyncOptions { MaxPageBytes = 1024 }));
        var big = System.Text.Encoding.UTF8.GetBytes("[" + string.Join(",", Enumerable.Repeat("\"xxxxxxxxxx\"", 200)) + "]");
        using var declared = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(big) };
        using var undeclared = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StreamContent(new MemoryStream(big)) };
        undeclared.Content.Headers.ContentLength = null;
        using var small = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("[1,2,3]") };

        foreach (var response in new[] { declared, undeclared })
        {
            var refusal = Assert.ThrowsAsync<SyncException>(() => CountAsync(http, response));
            Assert.That(refusal!.Code, Is.EqualTo("page_too_large"));
        }

        Assert.That(() => CountAsync(http, small), Is.EqualTo(3));
    }

    /// <summary>The page's records, read to the end of its body.</summary>
    private static async Task<long> CountAsync(SourceHttp http, HttpResponseMessage response)
    {
        using var page = await http.OpenPageAsync(response, JsonPath.Root, [], TimeSpan.FromSeconds(5), CancellationToken.None);
        while (await page.ReadAsync(CancellationToken.None))
        {
        }

        return page.Count;
    }
}
