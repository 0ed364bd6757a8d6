using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Ingestion.Platform.Sources;
using Ingestion.Platform.Tenancy;
using Ingestion.Tests.Infrastructure;
using Microsoft.Extensions.Options;

namespace Ingestion.Tests.EndToEnd.Syncs;

/// <summary>
/// A worker is killed with SIGKILL twice while it syncs, and its cursors expire while it is down.
/// The dataset has a key, but the test counts what was merged as a duplicate: a page committed
/// twice would show there, a page skipped as a missing row.
/// </summary>
public sealed class When_a_worker_dies_mid_sync
{
    private const int Events = 6_000;
    private Deployment _deployment = null!;
    private UpstreamSimulator _simulator = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        // Cursors live 2 seconds: each restart finds its checkpointed cursor expired.
        _simulator = await UpstreamSimulator.StartAsync(new SimulatorConfig
        {
            Events = Events,
            CursorTtlSeconds = 2,
            LatencyMs = 20,
            Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(10, 1)]),
        });
        _deployment = await Deployment.StartAsync(TestRun.Servers, "sync-killed", new Dictionary<string, string>
        {
            ["Sources__AllowedHosts__0"] = "127.0.0.1",
        });
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _deployment.DisposeAsync();
        await _simulator.DisposeAsync();
    }

    [Test]
    public async Task Should_resume_from_the_last_committed_page_and_load_every_record_once()
    {
        using var acme = _deployment.Client(Keys.Acme);
        (await acme.PostAsJsonAsync("/v1/datasets", new
        {
            name = "killed_events",
            columns = new object[]
            {
                new { name = "id", type = "uuid", required = true },
                new { name = "occurred_at", type = "timestamptz", required = true },
            },
            key = new[] { "id" },
        })).EnsureSuccessStatusCode();
        var catalog = new SourceCatalog(_deployment.Sandbox.Db, new SourceSecrets(Options.Create(new SourceOptions { SecretKey = Keys.SourcesSecretKey })));
        await catalog.CreateAsync("acme", new SourceDefinition("killed_events", "killed_events",
            new SourceRequest(_simulator.BaseUrl.ToString(), "/v1/events"),
            new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer "),
            new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.meta.next_cursor", CursorParameter: "cursor", LimitParameter: "limit", PageSize: 100),
            new SourceRecords("$.data", new Dictionary<string, string> { ["id"] = "$.id", ["occurred_at"] = "$.timestamp" }, "$.meta.total"),
            new SourceRateLimit([new RateLimitPolicy(10, 1)]),
            new SourceIncremental("occurred_at", "since", "until")), SimulatorConfig.Key, CancellationToken.None);

        using var response = await acme.PostAsJsonAsync("/v1/sources/killed_events/syncs", new { });
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        var jobId = (await response.Content.ReadFromJsonAsync<JsonObject>())!["jobId"]!.GetValue<Guid>();

        var live = await WaitForLiveProgressAsync(acme, jobId);
        Assert.That(live, Is.InRange(1, Events - 1), "the job's progress moved while the sync ran, not only at its end");

        var kills = new List<long>();
        foreach (var fraction in new[] { 0.25, 0.6 })
        {
            kills.Add(await WaitForRecordsAsync(jobId, (long)(Events * fraction)));
            _deployment.Workers[^1].Kill();
            await Task.Delay(TimeSpan.FromSeconds(3));
            await _deployment.StartWorkerAsync();
        }

        var job = await acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(180), "synced", "failed", "cancelled");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("synced"), job.ToJsonString());
        Assert.That(kills, Is.Ordered.And.All.LessThan(Events), "each kill came mid-sync");
        var table = TenantSchema.QualifiedTable("acme", "killed_events");
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>($"select count(*) from {table}"), Is.EqualTo(Events), "nothing lost");
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(Events));
        Assert.That(job["reconciliation"]!["expected"]!.GetValue<long>(), Is.EqualTo(Events));
        Assert.That((await _simulator.StatsAsync()).CursorExpired, Is.GreaterThan(0), "a stale cursor was refused and the sync went on from its marks");
        Assert.That((await _simulator.StatsAsync()).OverPolicy, Is.Zero);
    }

    /// <summary>The records a running job's view reports, once it reports some before the job ends.</summary>
    private static async Task<long> WaitForLiveProgressAsync(HttpClient client, Guid jobId)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            var job = (await client.GetFromJsonAsync<JsonObject>($"/v1/jobs/{jobId}"))!;
            if (job["status"]!.GetValue<string>() is "synced" or "failed" or "cancelled")
            {
                break;
            }

            if (job["progress"]?["records"]?.GetValue<long>() is > 0 and var records)
            {
                return records;
            }

            await Task.Delay(50);
        }

        return 0;
    }

    private async Task<long> WaitForRecordsAsync(Guid jobId, long atLeast)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (DateTime.UtcNow < deadline)
        {
            var records = await _deployment.Sandbox.ScalarAsync<long?>(
                "select sum(records)::bigint from ingestion.sync_partitions where job_id = @id", ("id", jobId)) ?? 0;
            if (records >= atLeast)
            {
                return records;
            }

            await Task.Delay(20);
        }

        Assert.Fail($"The sync did not reach {atLeast} records.");
        return 0;
    }
}
