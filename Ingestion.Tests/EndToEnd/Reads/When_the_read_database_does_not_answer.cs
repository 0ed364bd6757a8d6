using System.Net;
using System.Net.Sockets;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Reads;

/// <summary>
/// The read database (a replica) hangs: it takes connections and never answers, as a server stuck or cut off behind a
/// proxy does (here a loopback listener that accepts nothing). The read pool has five connections, every one of which
/// waits <c>Reads:ConnectionWait</c> (1 s) to open and fails; the other seven of twelve reads at once find them all taken. Every read is told
/// PostgreSQL is unavailable, to retry in five seconds, not that the service is busy (retry in one), which is what a pool
/// of working connections all in use says and which sent clients back every second during an outage. In the first wave,
/// reads that wait beside the openings may still be told "busy": they can give up before the openings fail.
/// </summary>
public sealed class When_the_read_database_does_not_answer
{
    private TcpListener _hung = null!;
    private Deployment _stack = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _hung = new TcpListener(IPAddress.Loopback, 0);
        _hung.Start(64);
        var port = ((IPEndPoint)_hung.LocalEndpoint).Port;
        var settings = new Dictionary<string, string>
        {
            ["ConnectionStrings__Read"] = $"Host=127.0.0.1;Port={port};Username=reader;Password=reader;Database=replica",
            ["Reads__MaxConnections"] = "5",
            ["Reads__WarmConnections"] = "0",
            ["Reads__ExportsInFlight"] = "3",
            ["Reads__ExportsInFlightPerTenant"] = "1",
            ["Reads__ConcurrentReadsPerTenant"] = "2",
            ["Reads__ConnectionWait"] = "00:00:01",
        };

        // Four tenants more than every deployment's two: two reads each at once make twelve, against five connections.
        foreach (var i in ExtraTenants)
        {
            settings[$"Tenancy__Tenants__{i}__Id"] = $"tenant{i}";
            settings[$"Tenancy__Tenants__{i}__ApiKeys__0"] = Key(i);
            settings[$"Tenancy__Tenants__{i}__WebhookSecret"] = $"tenant{i}-webhook-secret-for-tests";
        }

        _stack = await Deployment.StartAsync(TestRun.Servers, "hungreplica", settings, workers: 0);
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
        var tenants = new[] { Keys.Acme, Keys.Globex }.Concat(ExtraTenants.Select(Key)).Select(_stack.Client).ToList();
        var clients = tenants.SelectMany(client => new[] { client, client }).ToList();

        var first = await Task.WhenAll(clients.Select(AnswerAsync));
        Assert.That(first.Select(a => a.Status), Is.All.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(first.Count(a => a.Title == "PostgreSQL is unavailable"), Is.AtLeast(5), "at least the five openings that failed");

        // Until a connection opens: the read left waiting for a slot is told the same.
        var second = await Task.WhenAll(clients.Select(AnswerAsync));
        Assert.That(second.Select(a => (a.Status, a.Title, a.RetryAfter)),
            Is.All.EqualTo((HttpStatusCode.ServiceUnavailable, "PostgreSQL is unavailable", TimeSpan.FromSeconds(5))),
            string.Join("; ", second.Select(a => a.Body)));
        Assert.That(second.Select(a => a.Body), Has.None.Contains("Npgsql").And.None.Contains("Exception"), "no stack trace");
        foreach (var client in tenants)
        {
            client.Dispose();
        }
    }

    private static readonly int[] ExtraTenants = [2, 3, 4, 5];

    private static string Key(int tenant) => $"test-tenant{tenant}-key-00000000{tenant}";

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
