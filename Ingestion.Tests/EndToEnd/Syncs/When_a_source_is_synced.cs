using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Ingestion.Contracts.Jobs;
using Ingestion.Contracts.Syncs;
using Ingestion.Platform.Sources;
using Ingestion.Platform.Tenancy;
using Ingestion.Tests.Infrastructure;
using MassTransit;
using Microsoft.Extensions.Options;

namespace Ingestion.Tests.EndToEnd.Syncs;

/// <summary>
/// A source on the upstream simulator is synced into a dataset with real hosts, PostgreSQL, RabbitMQ
/// and S3: every record arrives once, whatever the pagination style, the timestamp format or the
/// rate-limit convention, and a well-declared policy costs no 429 and no request beyond it. Each
/// source has a credential of its own (the simulator accepts any key), so one test's policies never
/// pace another's syncs: the policies of every source on a credential hold all of them.
/// </summary>
public sealed class When_a_source_is_synced
{
    private const int Events = 1_200;
    private Deployment _deployment = null!;
    private UpstreamSimulator _simulator = null!;
    private int _sources;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _simulator = await UpstreamSimulator.StartAsync(new SimulatorConfig { Events = Events, Keys = [] });
        _deployment = await Deployment.StartAsync(TestRun.Servers, "syncs", new Dictionary<string, string>
        {
            ["Sources__AllowedHosts__0"] = "127.0.0.1",
            // Above the budget's lead (2 s): a slot 2-3 s away is waited for inline, a farther one parks the sync.
            ["Syncs__MaxInlineWait"] = "00:00:03",
        });

        // Two workers: any of them may take any turn of any sync, and they share every budget.
        await _deployment.StartWorkerAsync();
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _deployment.DisposeAsync();
        await _simulator.DisposeAsync();
    }

    public static IEnumerable<TestCaseData> Styles()
    {
        yield return new TestCaseData("/v1/events", new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.meta.next_cursor",
            CursorParameter: "cursor", HasMorePath: "$.meta.has_more", LimitParameter: "limit", PageSize: 100)).SetName("Cursor in the body");
        yield return new TestCaseData("/v1/events", new SourcePagination(PaginationStyle.Cursor, CursorHeader: "X-Next-Cursor",
            CursorParameter: "cursor", LimitParameter: "limit", PageSize: 100)).SetName("Cursor in a header");
        yield return new TestCaseData("/v1/events/links", new SourcePagination(PaginationStyle.NextLink, NextLinkPath: "$.links.next",
            LimitParameter: "limit", PageSize: 100)).SetName("Next link in the body");
        yield return new TestCaseData("/v1/events/pages", new SourcePagination(PaginationStyle.NextLink, LimitParameter: "per_page",
            PageSize: 100)).SetName("Next link in the Link header");
        yield return new TestCaseData("/v1/events/pages", new SourcePagination(PaginationStyle.Page, PageParameter: "page",
            LimitParameter: "per_page", PageSize: 100)).SetName("Page numbers");
        yield return new TestCaseData("/v1/events/offset", new SourcePagination(PaginationStyle.Offset, OffsetParameter: "offset",
            LimitParameter: "limit", PageSize: 100)).SetName("Offset and limit");
    }

    [TestCaseSource(nameof(Styles))]
    public async Task Should_load_every_record_once_in_each_pagination_style(string path, SourcePagination pagination)
    {
        await UpstreamAsync(new SimulatorConfig
        {
            Events = Events,
            Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(20, 1)]),
        });
        var source = await RegisterAsync(path, pagination, [new RateLimitPolicy(20, 1)], new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer "));

        var job = await SyncAsync(source);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("synced"), job.ToJsonString());
        Assert.That(await RowsAsync(source), Is.EqualTo((Events, Events)), "every record once");
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(Events));
        Assert.That(job["progress"]!["records"]!.GetValue<long>(), Is.EqualTo(Events));
        var stats = await _simulator.StatsAsync();
        Assert.That((stats.Http429, stats.OverPolicy), Is.EqualTo((0L, 0L)), "paced within the declared policy");
    }

    [TestCase("relative", "seconds")]
    [TestCase("epoch", "seconds")]
    [TestCase("ietf", "date")]
    public async Task Should_learn_a_lower_real_limit_from_the_headers_and_still_load_everything(string headers, string retryAfter)
    {
        // The API documents 50 requests a second but enforces 4 in any 2 seconds.
        await UpstreamAsync(new SimulatorConfig
        {
            Events = 600,
            Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(50, 1)]),
            Enforced = new SimulatorPolicies(Header: [new SimulatorPolicy(4, 2)]),
            RateHeaders = headers,
            RetryAfter = retryAfter,
        });
        var source = await RegisterAsync("/v1/events", new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.meta.next_cursor",
            CursorParameter: "cursor", LimitParameter: "limit", PageSize: 50), [new RateLimitPolicy(50, 1)],
            new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer "));

        var job = await SyncAsync(source, seconds: 120);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("synced"), job.ToJsonString());
        Assert.That(await RowsAsync(source), Is.EqualTo((600L, 600L)));
        var stats = await _simulator.StatsAsync();
        Assert.That(stats.Http429, Is.LessThanOrEqualTo(2), "the real limit was learned, not met again and again");
        Assert.That(job["progress"]!["http429"]!.GetValue<long>(), Is.EqualTo(stats.Http429), "every 429 is counted");
    }

    [Test]
    public async Task Should_report_the_upstream_total_and_reconcile_against_it()
    {
        await UpstreamAsync(new SimulatorConfig { Events = 500, Policies = new SimulatorPolicies(Query: [new SimulatorPolicy(20, 1)]) });
        var source = await RegisterAsync("/v1/events", new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.meta.next_cursor",
            CursorParameter: "cursor", LimitParameter: "limit", PageSize: 100), [new RateLimitPolicy(20, 1)],
            new SourceAuth(SourceAuthPlacement.Query, "api_key"));

        var job = await SyncAsync(source);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("synced"), job.ToJsonString());
        var reconciliation = job["reconciliation"]!;
        Assert.That(reconciliation["expected"]!.GetValue<long>(), Is.EqualTo(500));
        Assert.That(reconciliation["distinctKeysLoaded"]!.GetValue<long>(), Is.EqualTo(500));
        Assert.That(reconciliation["difference"]!.GetValue<long>(), Is.Zero);
        Assert.That((await _simulator.StatsAsync()).OverPolicy, Is.Zero);
        var logs = string.Join("\n", _deployment.Workers.Select(w => w.Log())) + _deployment.Api.Log();
        Assert.That(logs, Does.Not.Contain(SimulatorConfig.Key), "no source's secret is ever logged, not even in a URL");
        var checkpoints = await _deployment.Sandbox.ScalarAsync<long>(
            "select count(*) from ingestion.sync_partitions where next_page like '%' || @key || '%'", ("key", SimulatorConfig.Key));
        Assert.That(checkpoints, Is.Zero, "nor kept in a checkpoint");
    }

    [Test]
    public async Task Should_name_the_keys_the_upstream_served_twice_in_the_reconciliation()
    {
        // Seed 004's 3,000,003 versus 3,000,000 in small: the listing has 300 entries and says so, but three events come twice, a page apart.
        await UpstreamAsync(new SimulatorConfig { Events = 300, Repeats = 3, RepeatGap = 50, Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(20, 1)]) });
        var repeated = await _simulator.RepeatedAsync();
        var source = await RegisterAsync("/v1/events", new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.meta.next_cursor",
            CursorParameter: "cursor", LimitParameter: "limit", PageSize: 50), [new RateLimitPolicy(20, 1)],
            new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer "));

        var job = await SyncAsync(source);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("synced"), job.ToJsonString());
        Assert.That(repeated, Has.Count.EqualTo(3));
        Assert.That(await RowsAsync(source), Is.EqualTo((297L, 297L)));
        var reconciliation = job["reconciliation"]!;
        Assert.That((reconciliation["expected"]!.GetValue<long>(), reconciliation["distinctKeysLoaded"]!.GetValue<long>(),
            reconciliation["duplicates"]!.GetValue<long>(), reconciliation["difference"]!.GetValue<long>()), Is.EqualTo((300L, 297L, 3L, -3L)));

        // Newest first: the repeat (at the newer position) is read first, the event at its own position pages later is the duplicate.
        var keys = reconciliation["duplicateKeys"]!["keys"]!.AsArray();
        Assert.That(reconciliation["duplicateKeys"]!["complete"]!.GetValue<bool>(), Is.True, "the keys listed account for every duplicate");
        Assert.That(keys.Select(k => k!["key"]!["id"]!.GetValue<string>()), Is.EquivalentTo(repeated.Select(r => r.Id)), job.ToJsonString());
        foreach (var repeat in repeated)
        {
            var key = keys.Single(k => k!["key"]!["id"]!.GetValue<string>() == repeat.Id)!;
            var record = 300 - repeat.Of;
            Assert.That(key["times"]!.GetValue<long>(), Is.EqualTo(1));
            Assert.That(key["places"]!.AsArray().Select(p => (p!["partition"]!.GetValue<int>(), p["page"]!.GetValue<long>(), p["record"]!.GetValue<long>())),
                Is.EqualTo(new[] { (0, (record + 49L) / 50, (long)record) }), $"position {repeat.Of}, served again at {repeat.Position}");
        }

        // A second full sync meets every key again: the full count stays exact, the keys named stop at the bound and say so.
        var again = await SyncAsync(source);
        var whole = again["reconciliation"]!;
        Assert.That((whole["distinctKeysLoaded"]!.GetValue<long>(), whole["duplicates"]!.GetValue<long>()), Is.EqualTo((0L, 300L)));
        Assert.That(whole["duplicateKeys"]!["keys"]!.AsArray(), Has.Count.EqualTo(100));
        Assert.That(whole["duplicateKeys"]!["complete"]!.GetValue<bool>(), Is.False);
        Assert.That(whole["duplicateKeys"]!["keys"]![0]!["places"]![0]!["record"]!.GetValue<long>(), Is.EqualTo(1), "the first keys met are kept");
    }

    [Test]
    public async Task Should_keep_two_syncs_on_one_credential_within_its_policy_across_two_workers()
    {
        await UpstreamAsync(new SimulatorConfig { Events = 1_000, Window = "sliding",
            Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(6, 1)]) });
        var pagination = new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.meta.next_cursor", CursorParameter: "cursor",
            LimitParameter: "limit", PageSize: 50);
        var auth = new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer ");
        var first = await RegisterAsync("/v1/events", pagination, [new RateLimitPolicy(6, 1)], auth, secret: "one-credential");
        var second = await RegisterAsync("/v1/events", pagination, [new RateLimitPolicy(6, 1)], auth, secret: "one-credential");
        await _simulator.ResetStatsAsync();

        using var acme = _deployment.Client(Keys.Acme);
        var jobs = await Task.WhenAll(StartAsync(acme, first), StartAsync(acme, second));
        var ends = await Task.WhenAll(jobs.Select(id => acme.WaitForJobAsync(id, TimeSpan.FromSeconds(90), "synced", "failed", "cancelled")));

        Assert.That(ends.Select(j => j["status"]!.GetValue<string>()), Is.All.EqualTo("synced"));
        Assert.That(await RowsAsync(first), Is.EqualTo((1_000L, 1_000L)));
        Assert.That(await RowsAsync(second), Is.EqualTo((1_000L, 1_000L)));
        var stats = await _simulator.StatsAsync();
        Assert.That(stats.Requests, Is.GreaterThanOrEqualTo(40), "both syncs paged through everything");
        Assert.That((stats.Http429, stats.OverPolicy), Is.EqualTo((0L, 0L)), "one budget, shared: never over the policy in any second");
    }

    [Test]
    public async Task Should_ride_out_a_429_storm_and_5xx_faults_without_losing_or_doubling_a_record()
    {
        // No rate headers at all, only 429 with Retry-After; and one answer in five a 500 or 503.
        await UpstreamAsync(new SimulatorConfig
        {
            Events = 800,
            Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(50, 1)]),
            Enforced = new SimulatorPolicies(Header: [new SimulatorPolicy(5, 1)]),
            RateHeaders = "none",
            Faults = new SimulatorFaults(Http500: 0.1, Http503: 0.1),
        });
        var source = await RegisterAsync("/v1/events", new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.meta.next_cursor",
            CursorParameter: "cursor", LimitParameter: "limit", PageSize: 50), [new RateLimitPolicy(50, 1)],
            new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer "));

        var job = await SyncAsync(source, seconds: 120);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("synced"), job.ToJsonString());
        Assert.That(await RowsAsync(source), Is.EqualTo((800L, 800L)));
        var stats = await _simulator.StatsAsync();
        Assert.That(stats.Http5xx, Is.GreaterThan(0), "faults were served");
        Assert.That(stats.Http429, Is.LessThan(stats.Requests / 2), "a 429 stops every request on the credential until Retry-After");
    }

    [Test]
    public async Task Should_fetch_only_new_records_on_a_second_incremental_run()
    {
        await UpstreamAsync(new SimulatorConfig { Events = 700, Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(20, 1)]) });
        var source = await RegisterAsync("/v1/events", new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.meta.next_cursor",
            CursorParameter: "cursor", LimitParameter: "limit", PageSize: 100), [new RateLimitPolicy(20, 1)],
            new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer "));
        var first = await SyncAsync(source, mode: "incremental");
        await _simulator.AppendAsync(150);

        var second = await SyncAsync(source, mode: "incremental");

        Assert.That(first["status"]!.GetValue<string>(), Is.EqualTo("synced"), first.ToJsonString());
        Assert.That(second["status"]!.GetValue<string>(), Is.EqualTo("synced"), second.ToJsonString());
        Assert.That(await RowsAsync(source), Is.EqualTo((850L, 850L)));
        Assert.That(second["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(150));
        Assert.That(second["progress"]!["records"]!.GetValue<long>(), Is.LessThan(200),
            "only the new records, and those of the high-water mark's second again");
        Assert.That(second["sync"]!["since"], Is.Null, "the request asked for none: the mark came from the source's watermark");
    }

    [Test]
    public async Task Should_fetch_the_older_records_a_cancelled_newest_first_sync_left_on_the_next_incremental_run()
    {
        // Newest first at 4 pages a second: the cancel comes after the newest pages are committed, before the oldest.
        await UpstreamAsync(new SimulatorConfig { Events = 1_000, Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(4, 1)]) });
        var source = await RegisterAsync("/v1/events", new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.meta.next_cursor",
            CursorParameter: "cursor", LimitParameter: "limit", PageSize: 50), [new RateLimitPolicy(4, 1)],
            new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer "));
        using var acme = _deployment.Client(Keys.Acme);
        using var started = await acme.PostAsJsonAsync($"/v1/sources/{source}/syncs", new { mode = "incremental" });
        var jobId = (await started.Content.ReadFromJsonAsync<JsonObject>())!["jobId"]!.GetValue<Guid>();
        var table = TenantSchema.QualifiedTable("acme", source);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await _deployment.Sandbox.ScalarAsync<long>($"select count(*) from {table}") < 150 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        using (var cancel = await acme.PostAsync($"/v1/jobs/{jobId}/cancel", null))
        {
            Assert.That(cancel.IsSuccessStatusCode, Is.True, await cancel.Content.ReadAsStringAsync());
        }

        var cancelled = await acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(60), "synced", "failed", "cancelled");
        var left = await RowsAsync(source);

        var next = await SyncAsync(source, seconds: 120, mode: "incremental");

        Assert.That(cancelled["status"]!.GetValue<string>(), Is.EqualTo("cancelled"), cancelled.ToJsonString());
        Assert.That(left.Rows, Is.InRange(150L, 999L), "the cancelled sync committed its newest pages only");
        Assert.That(next["status"]!.GetValue<string>(), Is.EqualTo("synced"), next.ToJsonString());
        Assert.That(await RowsAsync(source), Is.EqualTo((1_000L, 1_000L)), "the older records the cancelled sync never reached were fetched");
    }

    [Test]
    public async Task Should_park_a_long_wait_for_the_budget_instead_of_holding_a_worker()
    {
        await UpstreamAsync(new SimulatorConfig { Events = 300, Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(2, 4)]) });
        var source = await RegisterAsync("/v1/events", new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.meta.next_cursor",
            CursorParameter: "cursor", LimitParameter: "limit", PageSize: 50), [new RateLimitPolicy(2, 4)],
            new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer "));

        var job = await SyncAsync(source, seconds: 90);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("synced"), job.ToJsonString());
        Assert.That(await RowsAsync(source), Is.EqualTo((300L, 300L)));
        var jobId = job["jobId"]!.GetValue<Guid>();
        Assert.That(string.Join("\n", _deployment.Workers.Select(w => w.Log())), Does.Match($"Sync {jobId} of source {source} waits .*: parked"),
            "this sync's waits longer than MaxInlineWait went back to PostgreSQL");
        Assert.That((await _simulator.StatsAsync()).OverPolicy, Is.Zero);
    }

    [Test]
    public async Task Should_fail_a_sync_into_a_keyless_dataset_whose_cursor_expires_instead_of_loading_records_twice()
    {
        // One request every 2 s and cursors that live 1 s: the second page's cursor is refused.
        await UpstreamAsync(new SimulatorConfig
        {
            Events = 100, CursorTtlSeconds = 1, Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(1, 2)]),
        });
        var source = await RegisterAsync("/v1/events", new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.meta.next_cursor",
            CursorParameter: "cursor", LimitParameter: "limit", PageSize: 50), [new RateLimitPolicy(1, 2)],
            new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer "), keyed: false);

        var job = await SyncAsync(source, seconds: 60);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("failed"), job.ToJsonString());
        Assert.That(job["error"]!["code"]!.GetValue<string>(), Is.EqualTo("cursor_expired_without_key"));
        Assert.That(job["error"]!["message"]!.GetValue<string>(), Does.Contain("declare a key"));
        Assert.That(await RowsAsync(source), Is.EqualTo((50L, 50L)), "the first page stays, once");
        Assert.That((await _simulator.StatsAsync()).CursorExpired, Is.EqualTo(1));
    }

    [Test]
    public async Task Should_refuse_a_second_sync_of_a_source_while_one_runs_and_name_the_running_job()
    {
        // Four pages at two requests a second: the first sync is still running when the second request comes.
        await UpstreamAsync(new SimulatorConfig { Events = 200, Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(2, 1)]) });
        var source = await RegisterAsync("/v1/events", new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.meta.next_cursor",
            CursorParameter: "cursor", LimitParameter: "limit", PageSize: 50), [new RateLimitPolicy(2, 1)],
            new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer "));
        using var acme = _deployment.Client(Keys.Acme);

        // Sent together: whichever is second waits for the first's check and creation, then sees its job.
        var answers = await Task.WhenAll(Enumerable.Range(0, 2).Select(async _ =>
        {
            using var response = await acme.PostAsJsonAsync($"/v1/sources/{source}/syncs", new { mode = "full" });
            return (response.StatusCode, Body: (await response.Content.ReadFromJsonAsync<JsonObject>())!);
        }));

        Assert.That(answers.Select(a => a.StatusCode), Is.EquivalentTo(new[] { HttpStatusCode.Accepted, HttpStatusCode.Conflict }));
        var started = answers.Single(a => a.StatusCode == HttpStatusCode.Accepted).Body["jobId"]!.GetValue<Guid>();
        var refused = answers.Single(a => a.StatusCode == HttpStatusCode.Conflict).Body;
        Assert.That(refused["runningJobId"]!.GetValue<Guid>(), Is.EqualTo(started), refused.ToJsonString());
        Assert.That(refused["detail"]!.GetValue<string>(), Does.Contain(started.ToString()));

        var first = await acme.WaitForJobAsync(started, TimeSpan.FromSeconds(60), "synced", "failed", "cancelled");
        Assert.That(first["status"]!.GetValue<string>(), Is.EqualTo("synced"), first.ToJsonString());

        // Once it is done, the source may be synced again.
        var again = await SyncAsync(source);
        Assert.That(again["status"]!.GetValue<string>(), Is.EqualTo("synced"), again.ToJsonString());
        Assert.That(await RowsAsync(source), Is.EqualTo((200L, 200L)));
    }

    [Test]
    public async Task Should_answer_a_retry_of_a_running_sync_with_its_job_not_a_conflict()
    {
        await UpstreamAsync(new SimulatorConfig { Events = 200, Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(2, 1)]) });
        var source = await RegisterAsync("/v1/events", new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.meta.next_cursor",
            CursorParameter: "cursor", LimitParameter: "limit", PageSize: 50), [new RateLimitPolicy(2, 1)],
            new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer "));
        using var acme = _deployment.Client(Keys.Acme);
        var key = "retry-" + Guid.NewGuid();

        // A client that timed out sends its request again with the same key, while the first is still being created, then once more.
        var together = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => StartWithKeyAsync(acme, source, key)));
        var later = await StartWithKeyAsync(acme, source, key);

        var answers = together.Append(later).ToList();
        Assert.That(answers.Select(a => a.StatusCode), Is.All.EqualTo(HttpStatusCode.Accepted), string.Join("\n", answers.Select(a => a.Body)));
        var job = answers[0].Body["jobId"]!.GetValue<Guid>();
        Assert.That(answers.Select(a => a.Body["jobId"]!.GetValue<Guid>()), Is.All.EqualTo(job), "one job, replayed");

        var done = await acme.WaitForJobAsync(job, TimeSpan.FromSeconds(60), "synced", "failed", "cancelled");
        Assert.That(done["status"]!.GetValue<string>(), Is.EqualTo("synced"), done.ToJsonString());
    }

    private static async Task<(HttpStatusCode StatusCode, JsonObject Body)> StartWithKeyAsync(HttpClient client, string source, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/sources/{source}/syncs") { Content = JsonContent.Create(new { mode = "full" }) };
        request.Headers.Add("Idempotency-Key", key);
        using var response = await client.SendAsync(request);
        return (response.StatusCode, (await response.Content.ReadFromJsonAsync<JsonObject>())!);
    }

    [Test]
    public async Task Should_refuse_an_incremental_sync_into_a_dataset_without_a_key_that_would_load_its_mark_twice()
    {
        // An incremental sync asks from the high-water mark's second on: without a key, that second's rows would be appended again.
        using var acme = _deployment.Client(Keys.Acme);
        var dataset = TestSources.EventsDataset("keyless_events");
        dataset.Remove("key");
        dataset.Remove("onKeyConflict");
        var source = TestSources.Events("keyless_events", "keyless_events", _simulator.BaseUrl, "sim-key-keyless");
        await TestSources.RegisterAsync(acme, dataset, source);

        using var sync = await acme.PostAsJsonAsync("/v1/sources/keyless_events/syncs", new { mode = "incremental" });
        source["name"] = "keyless_scheduled";
        source["schedule"] = new JsonObject { ["everyMinutes"] = 15, ["mode"] = "incremental" };
        using var scheduled = await acme.PostAsJsonAsync("/v1/sources", source);

        Assert.That(sync.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await sync.ProblemAsync())["errors"]!["mode"]![0]!.GetValue<string>(), Does.Contain("has no key"));
        Assert.That(scheduled.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await scheduled.ProblemAsync())["errors"]!["schedule.mode"]![0]!.GetValue<string>(), Does.Contain("has no key"));
        Assert.That(await _deployment.Sandbox.ScalarAsync<long>("select count(*) from ingestion.jobs where kind = 'sync' and data ->> 'source' = 'keyless_events'"),
            Is.Zero, "no job was created");
    }

    [Test]
    public async Task Should_fail_a_sync_whose_source_points_inside_without_calling_it()
    {
        // Stored as if the sources API had let it through (or DNS changed since): the worker checks again before any request.
        var source = await RegisterAsync("/v1/events", new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.meta.next_cursor"),
            [new RateLimitPolicy(10, 1)], new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer "),
            baseUrl: "http://169.254.169.254/");

        var job = await SyncAsync(source);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("failed"), job.ToJsonString());
        Assert.That(job["error"]!["code"]!.GetValue<string>(), Is.EqualTo("source_refused"));
        Assert.That(job["progress"]!["requests"]!.GetValue<long>(), Is.Zero);
    }

    [Test]
    public async Task Should_fail_a_sync_whose_stored_path_does_not_parse_by_naming_it()
    {
        // Stored as if the sources API had let it through: the JSON path "meta.next" has no root.
        var source = await RegisterAsync("/v1/events", new SourcePagination(PaginationStyle.Cursor, CursorPath: "meta.next",
            CursorParameter: "cursor"), [new RateLimitPolicy(10, 1)], new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer "));

        var job = await SyncAsync(source);

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("failed"), job.ToJsonString());
        Assert.That(job["error"]!["code"]!.GetValue<string>(), Is.EqualTo("source_invalid"));
        Assert.That(job["error"]!["message"]!.GetValue<string>(), Does.Contain("'meta.next' is not a JSON path"));
        Assert.That(job["progress"]!["requests"]!.GetValue<long>(), Is.Zero);
    }

    private static async Task<Guid> StartAsync(HttpClient client, string source)
    {
        using var response = await client.PostAsJsonAsync($"/v1/sources/{source}/syncs", new { mode = "full" });
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!["jobId"]!.GetValue<Guid>();
    }

    [Test]
    public async Task Should_accept_a_sync_sent_on_the_bus_and_announce_its_end_as_every_job_does()
    {
        await UpstreamAsync(new SimulatorConfig
        {
            Events = Events,
            Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(20, 1)]),
        });
        var source = await RegisterAsync("/v1/events", new SourcePagination(PaginationStyle.Cursor, CursorPath: "$.meta.next_cursor",
            CursorParameter: "cursor", HasMorePath: "$.meta.has_more", LimitParameter: "limit", PageSize: 100),
            [new RateLimitPolicy(20, 1)], new SourceAuth(SourceAuthPlacement.Header, "Authorization", "Bearer "));
        await using var service = await JobOutcomeListener.StartAsync(_deployment.Sandbox);
        var jobId = NewId.NextGuid();

        // An internal service knows nothing of syncs but the contracts: the request client and the generic events.
        var accepted = (await service.Bus.CreateRequestClient<SubmitSync>(RequestTimeout.After(s: 30))
            .GetResponse<JobAccepted>(new SubmitSync(jobId, "acme", source, "full"))).Message;
        Assert.That((accepted.JobId, accepted.Kind, accepted.TenantId), Is.EqualTo((jobId, "sync", "acme")));

        var completed = await service.WaitAsync<JobCompleted>(jobId, 90);
        Assert.That((completed.Kind, completed.TenantId, completed.Attempt), Is.EqualTo(("sync", "acme", 1)));
        Assert.That((completed.Counts["records"], completed.Counts["rowsLoaded"]), Is.EqualTo(((long)Events, (long)Events)));
        Assert.That(await RowsAsync(source), Is.EqualTo((Events, Events)), "the event follows the committed rows");
    }

    /// <summary>The simulator as a test needs it, accepting any key: each source's credential is its own unless the test shares one.</summary>
    private Task UpstreamAsync(SimulatorConfig config) => _simulator.ReconfigureAsync(config with { Keys = [] });

    /// <summary>Declares a source and its dataset; its secret starts with <see cref="SimulatorConfig.Key"/> and is its own unless given.</summary>
    private async Task<string> RegisterAsync(string path, SourcePagination pagination, IReadOnlyList<RateLimitPolicy> policies, SourceAuth auth,
        string? baseUrl = null, string? secret = null, bool keyed = true)
    {
        var name = $"events_{++_sources}";
        using var acme = _deployment.Client(Keys.Acme);
        (await acme.PostAsJsonAsync("/v1/datasets", new
        {
            name,
            columns = new object[]
            {
                new { name = "id", type = "uuid", required = true },
                new { name = "type", type = "text", required = true },
                new { name = "occurred_at", type = "timestamptz", required = true },
                new { name = "value", type = "numeric(10,2)", required = false },
            },
            key = keyed ? new[] { "id" } : Array.Empty<string>(),
        })).EnsureSuccessStatusCode();

        var definition = new SourceDefinition(name, name,
            new SourceRequest(baseUrl ?? _simulator.BaseUrl.ToString(), path),
            auth,
            pagination,
            new SourceRecords("$.data", new Dictionary<string, string>
            {
                ["id"] = "$.id", ["type"] = "$.type", ["occurred_at"] = "$.timestamp", ["value"] = "$.value",
            }, "$.meta.total"),
            new SourceRateLimit(policies),
            new SourceIncremental("occurred_at", "since", "until"));
        var catalog = new SourceCatalog(_deployment.Sandbox.Db,
            new SourceSecrets(Options.Create(new SourceOptions { SecretKey = Keys.SourcesSecretKey })));
        Assert.That(await catalog.CreateAsync("acme", definition, $"{SimulatorConfig.Key}-{secret ?? name}", CancellationToken.None), Is.True);
        return name;
    }

    private async Task<JsonNode> SyncAsync(string source, int seconds = 60, string mode = "full")
    {
        await _simulator.ResetStatsAsync();
        using var acme = _deployment.Client(Keys.Acme);
        using var response = await acme.PostAsJsonAsync($"/v1/sources/{source}/syncs", new { mode });
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await response.Content.ReadAsStringAsync());
        var jobId = (await response.Content.ReadFromJsonAsync<JsonObject>())!["jobId"]!.GetValue<Guid>();
        return await acme.WaitForJobAsync(jobId, TimeSpan.FromSeconds(seconds), "synced", "failed", "cancelled");
    }

    private async Task<(long Rows, long Distinct)> RowsAsync(string dataset)
    {
        var rows = await _deployment.Sandbox.ScalarAsync<long>($"select count(*) from {TenantSchema.QualifiedTable("acme", dataset)}");
        var distinct = await _deployment.Sandbox.ScalarAsync<long>($"select count(distinct id) from {TenantSchema.QualifiedTable("acme", dataset)}");
        return (rows, distinct);
    }
}
