using System.Net.Http.Json;
using Ingestion.Platform.Sources;
using Ingestion.Platform.Tenancy;
using Ingestion.Tests.Infrastructure;
using Microsoft.Extensions.Options;

namespace Ingestion.Tests.EndToEnd.Syncs;

/// <summary>
/// A source scheduled every minute, two workers that both look for due schedules every second, and
/// a sync slow enough to run into the next slot: each slot fires at most once, and no sync of the
/// source starts while another runs. The workers' schedule minute lasts five seconds
/// (<c>Syncs:ScheduleMinute</c>), so slots pass in seconds, not minutes.
/// </summary>
public sealed class When_a_source_is_scheduled
{
    private const int Events = 200;
    private Deployment _deployment = null!;
    private UpstreamSimulator _simulator = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        // 200 events in pages of 25 at 1 request a second: about 8 s, longer than a 5 s slot, so the first sync spans a slot boundary.
        _simulator = await UpstreamSimulator.StartAsync(new SimulatorConfig
        {
            Events = Events,
            Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(1, 1)]),
        });
        _deployment = await Deployment.StartAsync(TestRun.Servers, "sync-schedules", new Dictionary<string, string>
        {
            ["Sources__AllowedHosts__0"] = "127.0.0.1",
            ["Syncs__SchedulePeriod"] = "00:00:01",
            ["Syncs__ScheduleMinute"] = "00:00:05",
        });
        await _deployment.StartWorkerAsync();
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _deployment.DisposeAsync();
        await _simulator.DisposeAsync();
    }

    [Test]
    public async Task Should_fire_each_slot_once_across_workers_and_never_overlap_a_running_sync()
    {
        using var acme = _deployment.Client(Keys.Acme);
        (await acme.PostAsJsonAsync("/v1/datasets", new
        {
            name = "scheduled_events",
            columns = new object[] { new { name = "id", type = "uuid", required = true }, new { name = "occurred_at", type = "timestamptz", required = true } },
            key = new[] { "id" },
        })).EnsureSuccessStatusCode();
        var catalog = new SourceCatalog(_deployment.Sandbox.Db, new SourceSecrets(Options.Create(new SourceOptions { SecretKey = Keys.SourcesSecretKey })));
        await catalog.CreateAsync("acme", new SourceDefinition("scheduled_events", "scheduled_events",
            new SourceRequest(_simulator.BaseUrl.ToString(), "/v1/events"),
            new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer "),
            new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.meta.next_cursor", CursorParameter: "cursor", LimitParameter: "limit", PageSize: 25),
            new SourceRecords("$.data", new Dictionary<string, string> { ["id"] = "$.id", ["occurred_at"] = "$.timestamp" }, "$.meta.total"),
            new SourceRateLimit([new RateLimitPolicy(1, 1)]),
            new SourceIncremental("occurred_at", "since", "until"),
            Schedule: new SourceSchedule(1, SyncMode.Incremental)), SimulatorConfig.Key, CancellationToken.None);

        // Long enough for the first sync to cross a slot boundary and for a later slot to fire.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && await FinishedAsync() < 2)
        {
            await Task.Delay(100);
        }

        var jobs = await JobsAsync();
        Assert.That(jobs.Count(j => j.State == "Synced"), Is.GreaterThanOrEqualTo(2), "the schedule fired again after the first sync");
        Assert.That(jobs.Select(j => j.Key), Is.Unique, "one sync per slot, however many workers");
        var ordered = jobs.OrderBy(j => j.Created).ToList();
        for (var i = 1; i < ordered.Count; i++)
        {
            Assert.That(ordered[i].Created, Is.GreaterThanOrEqualTo(ordered[i - 1].Ended), "a sync starts only after the previous one ended");
        }

        Assert.That(_deployment.Workers.Any(w => w.Log().Contains("still running", StringComparison.Ordinal)), Is.True,
            "a slot came while a sync ran, and did not fire");
        var table = TenantSchema.QualifiedTable("acme", "scheduled_events");
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>($"select count(*) from {table}"), Is.EqualTo(Events));
    }

    private async Task<long> FinishedAsync() => await _deployment.Sandbox.ScalarAsync<long>(
        "select count(*) from ingestion.jobs where kind = 'sync' and current_state = 'Synced'");

    private async Task<List<(string Key, string State, DateTimeOffset Created, DateTimeOffset Ended)>> JobsAsync()
    {
        await using var command = _deployment.Sandbox.Db.CreateCommand("""
            select idempotency_key, current_state, created_at, coalesce((data ->> 'completedAt')::timestamptz, 'infinity')
            from ingestion.jobs where kind = 'sync' order by created_at
            """);
        await using var reader = await command.ExecuteReaderAsync();
        var jobs = new List<(string, string, DateTimeOffset, DateTimeOffset)>();
        while (await reader.ReadAsync())
        {
            var ended = reader.GetFieldValue<DateTime>(3);
            jobs.Add((reader.GetString(0), reader.GetString(1), reader.GetFieldValue<DateTimeOffset>(2),
                ended == DateTime.MaxValue ? DateTimeOffset.MaxValue : new DateTimeOffset(ended, TimeSpan.Zero)));
        }

        return jobs;
    }
}
