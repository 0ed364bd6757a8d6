using System.Net;
using System.Net.Sockets;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Reads;

/// <summary>
/// The read database (a replica) hangs: it takes connections and never answers, as a server stuck or cut off behind a
/// proxy does (here a loopback listener that accepts nothing). The read pool has five connections, every one of which
/// waits <c>Reads:ConnectionWait</c> (1 s) to open and fails; a sixth read at once finds them all taken. Every read is told
/// PostgreSQL is unavailable, to retry in five seconds, not that the service is busy (retry in one), which is what a pool
/// of working connections all in use says and which sent clients back every second during an outage. The first wave's
/// sixth read may still be told "busy": it waits alongside the openings and can give up before they fail.
/// </summary>
public sealed class When_the_read_database_does_not_answer
{
    private const string Initech = "test-initech-key-000000002";
    private TcpListener _hung = null!;
    private Deployment _stack = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _hung = new TcpListener(IPAddress.Loopback, 0);
        _hung.Start(64);
        var port = ((IPEndPoint)_hung.LocalEndpoint).Port;
        _stack = await Deployment.StartAsync(TestRun.Servers, "hungreplica", new Dictionary<string, string>
        {
            ["ConnectionStrings__Read"] = $"Host=127.0.0.1;Port={port};Username=reader;Password=reader;Database=replica",
            ["Tenancy__Tenants__2__Id"] = "initech",
            ["Tenancy__Tenants__2__ApiKeys__0"] = Initech,
            ["Tenancy__Tenants__2__WebhookSecret"] = "initech-webhook-secret-for-tests",
            ["Reads__MaxConnections"] = "5",
            ["Reads__WarmConnections"] = "0",
            ["Reads__ExportsInFlight"] = "3",
            ["Reads__ExportsInFlightPerTenant"] = "1",
            ["Reads__ConcurrentReadsPerTenant"] = "2",
            ["Reads__ConnectionWait"] = "00:00:01",
        }, workers: 0);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _stack.DisposeAsync();
        _hung.Stop();
    }

    [Test]
    public async Task Should_tell_every_read_the_database_is_unavailable_not_that_the_service_is_busy()
    {
        using var acme = _stack.Client(Keys.Acme);
        using var globex = _stack.Client(Keys.Globex);
        using var initech = _stack.Client(Initech);
        HttpClient[] clients = [acme, acme, globex, globex, initech, initech];

        var first = await Task.WhenAll(clients.Select(AnswerAsync));
        Assert.That(first.Select(a => a.Status), Is.All.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(first.Count(a => a.Title == "PostgreSQL is unavailable"), Is.AtLeast(5), "the five openings that failed");

        // Until a connection opens: the read left waiting for a slot is told the same.
        var second = await Task.WhenAll(clients.Select(AnswerAsync));
        Assert.That(second.Select(a => (a.Status, a.Title, a.RetryAfter)),
            Is.All.EqualTo((HttpStatusCode.ServiceUnavailable, "PostgreSQL is unavailable", TimeSpan.FromSeconds(5))),
            string.Join("; ", second.Select(a => a.Body)));
        Assert.That(second.Select(a => a.Body), Has.None.Contains("Npgsql").And.None.Contains("Exception"), "no stack trace");
    }

    private static async Task<(HttpStatusCode Status, string? Title, TimeSpan? RetryAfter, string Body)> AnswerAsync(HttpClient client)
    {
        using var response = await client.GetAsync("/v1/datasets/transactions/rows?limit=1");
        var body = await response.Content.ReadAsStringAsync();
        var title = response.Content.Headers.ContentType?.MediaType == "application/problem+json"
            ? (await response.ProblemAsync())["title"]?.GetValue<string>()
            : null;
        return (response.StatusCode, title, response.Headers.RetryAfter?.Delta, body);
    }
}
