using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.Simulator;

/// <summary>
/// The simulator is the yardstick of the sync tests and the benchmark (its over_policy count is
/// what they assert), so it is checked on its own first: pagination, budgets, headers, expiry.
/// </summary>
public sealed class The_upstream_simulator
{
    private static readonly SimulatorConfig Small = new() { Events = 1_234, PageSizeCap = 100 };

    [Test]
    public async Task Should_page_every_event_exactly_once_newest_first_in_each_style()
    {
        await using var simulator = await UpstreamSimulator.StartAsync(Small with
        {
            Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(1000, 1)]),
        });
        using var client = Client(simulator);

        var byCursor = new List<string>();
        var times = new List<DateTimeOffset>();
        string? cursor = null;
        long? total = null;
        do
        {
            var page = await GetJsonAsync(client, "v1/events?limit=500" + (cursor is null ? "" : "&cursor=" + cursor));
            total ??= page["meta"]!["total"]!.GetValue<long>();
            Assert.That(page["data"]!.AsArray(), Has.Count.LessThanOrEqualTo(100), "the page-size cap");
            foreach (var e in page["data"]!.AsArray())
            {
                byCursor.Add(e!["id"]!.GetValue<string>());
                times.Add(Time(e["timestamp"]!));
                Assert.That(e["user"]!["id"]!.GetValue<string>(), Does.StartWith("u_"));
            }

            cursor = page["meta"]!["has_more"]!.GetValue<bool>() ? page["meta"]!["next_cursor"]!.GetValue<string>() : null;
        }
        while (cursor is not null);

        Assert.That(total, Is.EqualTo(1_234));
        Assert.That(byCursor, Has.Count.EqualTo(1_234).And.Unique);
        Assert.That(times, Is.Ordered.Descending);

        var byPage = new List<string>();
        string? next = "v1/events/pages?per_page=100";
        while (next is not null)
        {
            using var response = await client.GetAsync(next);
            var page = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            byPage.AddRange(page["data"]!.AsArray().Select(e => e!["id"]!.GetValue<string>()));
            next = NextLink(response);
        }

        var byOffset = new List<string>();
        for (var offset = 0; ; offset += 100)
        {
            var page = await GetJsonAsync(client, $"v1/events/offset?offset={offset}&limit=100");
            if (page["data"]!.AsArray().Count == 0)
            {
                break;
            }

            byOffset.AddRange(page["data"]!.AsArray().Select(e => e!["id"]!.GetValue<string>()));
        }

        var byBodyLink = new List<string>();
        string? link = "v1/events/links?limit=100";
        while (link is not null)
        {
            var page = await GetJsonAsync(client, link);
            byBodyLink.AddRange(page["data"]!.AsArray().Select(e => e!["id"]!.GetValue<string>()));
            link = page["links"]!["next"]?.GetValue<string>();
        }

        Assert.That(byPage, Is.EqualTo(byCursor));
        Assert.That(byOffset, Is.EqualTo(byCursor));
        Assert.That(byBodyLink, Is.EqualTo(byCursor));
    }

    [Test]
    public async Task Should_serve_the_same_data_for_the_same_seed_and_mix_timestamp_formats_in_a_page()
    {
        await using var first = await UpstreamSimulator.StartAsync(Small);
        await using var second = await UpstreamSimulator.StartAsync(Small);
        using var a = Client(first);
        using var b = Client(second);

        var page = await GetJsonAsync(a, "v1/events?limit=60");
        Assert.That((await GetJsonAsync(b, "v1/events?limit=60"))["data"]!.ToJsonString(), Is.EqualTo(page["data"]!.ToJsonString()));
        var kinds = page["data"]!.AsArray().Select(e => e!["timestamp"]!.GetValueKind() == System.Text.Json.JsonValueKind.String
            ? "iso"
            : e["timestamp"]!.GetValue<long>() > 100_000_000_000 ? "ms" : "s").Distinct();
        Assert.That(kinds, Is.EquivalentTo(new[] { "iso", "ms", "s" }));
    }

    [Test]
    public async Task Should_select_a_time_range_with_since_inclusive_and_until_exclusive()
    {
        await using var simulator = await UpstreamSimulator.StartAsync(Small with
        {
            Start = "2026-01-01T00:00:00Z",
            End = "2026-01-01T01:00:00Z",
            Events = 3600,
        });
        using var client = Client(simulator);

        var page = await GetJsonAsync(client, "v1/events?limit=100&since=2026-01-01T00:10:00Z&until=1767226260");
        var times = page["data"]!.AsArray().Select(e => Time(e!["timestamp"]!)).ToList();

        Assert.That(page["meta"]!["total"]!.GetValue<long>(), Is.EqualTo(60), "one event a second for a minute");
        Assert.That(times.First(), Is.EqualTo(DateTimeOffset.Parse("2026-01-01T00:10:59Z", CultureInfo.InvariantCulture)));
        Assert.That(times.Last(), Is.EqualTo(DateTimeOffset.Parse("2026-01-01T00:10:00Z", CultureInfo.InvariantCulture)));
    }

    [Test]
    public async Task Should_keep_separate_budgets_for_header_and_query_auth_and_count_requests_beyond_them()
    {
        await using var simulator = await UpstreamSimulator.StartAsync(Small with
        {
            Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(3, 60)], Query: [new SimulatorPolicy(2, 60)]),
        });
        using var client = new HttpClient { BaseAddress = simulator.BaseUrl };

        var header = new List<HttpResponseMessage>();
        for (var i = 0; i < 4; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "v1/events?limit=1");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", SimulatorConfig.Key);
            header.Add(await client.SendAsync(request));
        }

        var query = new List<HttpResponseMessage>();
        for (var i = 0; i < 3; i++)
        {
            query.Add(await client.GetAsync($"v1/events?limit=1&api_key={SimulatorConfig.Key}"));
        }

        Assert.That(header.Select(r => (int)r.StatusCode), Is.EqualTo(new[] { 200, 200, 200, 429 }));
        Assert.That(query.Select(r => (int)r.StatusCode), Is.EqualTo(new[] { 200, 200, 429 }), "the query budget is its own");
        Assert.That(header.Select(r => r.Headers.GetValues("X-RateLimit-Remaining").Single()), Is.EqualTo(new[] { "2", "1", "0", "0" }));
        Assert.That(header[0].Headers.GetValues("X-RateLimit-Limit").Single(), Is.EqualTo("3"));
        Assert.That(int.Parse(header[0].Headers.GetValues("X-RateLimit-Reset").Single(), CultureInfo.InvariantCulture), Is.InRange(59, 60),
            "seconds from now");
        Assert.That(header[3].Headers.RetryAfter!.Delta!.Value.TotalSeconds, Is.InRange(58, 60));
        var refused = JsonNode.Parse(await header[3].Content.ReadAsStringAsync())!;
        Assert.That(refused["error"]!.GetValue<string>(), Is.EqualTo("rate_limited"));

        var stats = await simulator.StatsAsync();
        Assert.That(stats.Requests, Is.EqualTo(7));
        Assert.That(stats.RequestsByCredential, Is.EquivalentTo(new Dictionary<string, long> { ["header:sim-key"] = 4, ["query:sim-key"] = 3 }));
        Assert.That(stats.Http429, Is.EqualTo(2));
        Assert.That(stats.OverPolicy, Is.EqualTo(2));
        foreach (var response in header.Concat(query))
        {
            response.Dispose();
        }
    }

    [Test]
    public async Task Should_refuse_below_the_documented_limit_when_the_real_one_is_lower_without_counting_it_over_policy()
    {
        await using var simulator = await UpstreamSimulator.StartAsync(Small with
        {
            Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(5, 60)]),
            Enforced = new SimulatorPolicies(Header: [new SimulatorPolicy(2, 60)]),
            RateHeaders = "epoch",
            RetryAfter = "date",
        });
        using var client = Client(simulator);

        var statuses = new List<int>();
        HttpResponseMessage? last = null;
        for (var i = 0; i < 3; i++)
        {
            last?.Dispose();
            last = await client.GetAsync("v1/events?limit=1");
            statuses.Add((int)last.StatusCode);
        }

        Assert.That(statuses, Is.EqualTo(new[] { 200, 200, 429 }));
        Assert.That(last!.Headers.GetValues("X-RateLimit-Limit").Single(), Is.EqualTo("2"), "the headers tell the real limit");
        var reset = DateTimeOffset.FromUnixTimeSeconds(long.Parse(last.Headers.GetValues("X-RateLimit-Reset").Single(), CultureInfo.InvariantCulture));
        Assert.That(reset - DateTimeOffset.UtcNow, Is.InRange(TimeSpan.FromSeconds(55), TimeSpan.FromSeconds(61)), "an epoch time");
        Assert.That(last.Headers.RetryAfter!.Date!.Value - DateTimeOffset.UtcNow, Is.InRange(TimeSpan.FromSeconds(55), TimeSpan.FromSeconds(61)),
            "an HTTP date");
        var stats = await simulator.StatsAsync();
        Assert.That((stats.Http429, stats.OverPolicy), Is.EqualTo((1L, 0L)));
        last.Dispose();
    }

    [Test]
    public async Task Should_hold_a_sliding_window_to_any_span_of_its_length()
    {
        await using var simulator = await UpstreamSimulator.StartAsync(Small with
        {
            Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(3, 1)]),
            Window = "sliding",
        });
        using var client = Client(simulator);

        var statuses = new List<int>();
        async Task SendAsync()
        {
            using var response = await client.GetAsync("v1/events?limit=1");
            statuses.Add((int)response.StatusCode);
        }

        await SendAsync();
        await Task.Delay(600);
        await SendAsync();
        await SendAsync();
        await Task.Delay(500);
        await SendAsync(); // 1.1 s after the first, 0.5 s after the others: the first has left the window
        await SendAsync(); // a fourth within 0.5 s of the last three

        Assert.That(statuses, Is.EqualTo(new[] { 200, 200, 200, 200, 429 }));
        Assert.That((await simulator.StatsAsync()).OverPolicy, Is.EqualTo(1));
    }

    [Test]
    public async Task Should_describe_its_policies_in_the_ietf_fields()
    {
        await using var simulator = await UpstreamSimulator.StartAsync(Small with
        {
            Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(10, 1), new SimulatorPolicy(100, 60)]),
            RateHeaders = "ietf",
        });
        using var client = Client(simulator);

        using var response = await client.GetAsync("v1/events?limit=1");

        Assert.That(response.Headers.GetValues("RateLimit-Policy").Single(), Is.EqualTo("\"1s0\";q=10;w=1, \"60s1\";q=100;w=60"));
        Assert.That(response.Headers.GetValues("RateLimit").Single(), Does.Match("^\"1s0\";r=9;t=[01], \"60s1\";r=99;t=(59|60)$"));
        Assert.That(response.Headers.Contains("X-RateLimit-Remaining"), Is.False);
    }

    [Test]
    public async Task Should_refuse_an_expired_cursor_with_a_json_error()
    {
        await using var simulator = await UpstreamSimulator.StartAsync(Small with { CursorTtlSeconds = 1, CursorExpiredStatus = 410 });
        using var client = Client(simulator);
        var cursor = (await GetJsonAsync(client, "v1/events?limit=10"))["meta"]!["next_cursor"]!.GetValue<string>();

        using var fresh = await client.GetAsync("v1/events?limit=10&cursor=" + cursor);
        await Task.Delay(TimeSpan.FromMilliseconds(1_500));
        using var stale = await client.GetAsync("v1/events?limit=10&cursor=" + cursor);

        Assert.That(fresh.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(stale.StatusCode, Is.EqualTo(HttpStatusCode.Gone));
        Assert.That(stale.Content.Headers.ContentType!.MediaType, Is.EqualTo("application/json"));
        Assert.That(JsonNode.Parse(await stale.Content.ReadAsStringAsync())!["error"]!.GetValue<string>(), Is.EqualTo("cursor_expired"));
        Assert.That((await simulator.StatsAsync()).CursorExpired, Is.EqualTo(1));
    }

    [Test]
    public async Task Should_fail_a_seeded_share_of_requests_with_500_and_503()
    {
        await using var simulator = await UpstreamSimulator.StartAsync(Small with
        {
            Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(1000, 1)]),
            Faults = new SimulatorFaults(Http500: 0.1, Http503: 0.1),
        });
        using var client = Client(simulator);

        var statuses = new List<int>();
        for (var i = 0; i < 200; i++)
        {
            using var response = await client.GetAsync("v1/events?limit=1");
            statuses.Add((int)response.StatusCode);
        }

        Assert.That(statuses.Count(s => s == 500), Is.InRange(8, 40));
        Assert.That(statuses.Count(s => s == 503), Is.InRange(8, 40));
        Assert.That((await simulator.StatsAsync()).Http5xx, Is.EqualTo(statuses.Count(s => s >= 500)));
    }

    [Test]
    public async Task Should_page_an_accounts_transactions_and_add_new_events_on_demand()
    {
        await using var simulator = await UpstreamSimulator.StartAsync(Small with { Accounts = 2, TransactionsPerAccount = 30 });
        using var client = Client(simulator);

        var page = await GetJsonAsync(client, "v1/accounts/2/transactions?limit=50");
        using var missing = await client.GetAsync("v1/accounts/3/transactions");
        await simulator.AppendAsync(5);
        var after = await GetJsonAsync(client, "v1/events?limit=1");

        Assert.That(page["data"]!.AsArray().Select(t => t!["account_id"]!.GetValue<string>()), Is.EqualTo(Enumerable.Repeat("2", 30)));
        Assert.That(page["meta"]!["has_more"]!.GetValue<bool>(), Is.False);
        Assert.That(missing.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(after["meta"]!["total"]!.GetValue<long>(), Is.EqualTo(1_239));
    }

    [Test]
    public async Task Should_let_events_arrive_while_a_listing_holds_its_cursor()
    {
        await using var simulator = await UpstreamSimulator.StartAsync(Small with { ArrivalsPerSecond = 200 });
        using var client = Client(simulator);

        var first = await GetJsonAsync(client, "v1/events?limit=100");
        await Task.Delay(TimeSpan.FromMilliseconds(1_200));
        var continued = await GetJsonAsync(client, "v1/events?limit=100&cursor=" + first["meta"]!["next_cursor"]!.GetValue<string>());
        var fresh = await GetJsonAsync(client, "v1/events?limit=100");

        var total = first["meta"]!["total"]!.GetValue<long>();
        Assert.That(total, Is.InRange(1_234, 1_234 + 100));
        Assert.That(fresh["meta"]!["total"]!.GetValue<long>(), Is.GreaterThanOrEqualTo(total + 200), "newer events arrived");
        Assert.That(continued["data"]!.AsArray().Select(e => e!["id"]!.GetValue<string>()),
            Has.None.AnyOf(fresh["data"]!.AsArray().Select(e => e!["id"]!.GetValue<string>()).ToArray()),
            "the cursor goes on down to older events");
    }

    [Test]
    public async Task Should_refuse_repeats_so_close_that_one_repeats_another()
    {
        await using var simulator = await UpstreamSimulator.StartAsync(Small);

        // 200 events, 2 repeats 50 apart: positions 100 and 150, and 150 would serve 100's event, itself 50's.
        Assert.That(async () => await simulator.ReconfigureAsync(Small with { Events = 200, Repeats = 2, RepeatGap = 50 }),
            Throws.InvalidOperationException.With.Message.Contains("400"));

        await simulator.ReconfigureAsync(Small with { Events = 203, Repeats = 2, RepeatGap = 50 });
        var repeated = await simulator.RepeatedAsync();
        Assert.That(repeated.Select(r => r.Of), Has.None.AnyOf(repeated.Select(r => r.Position).Cast<object>().ToArray()),
            "each repeat serves an event served once elsewhere, the one its id names");
    }

    private static HttpClient Client(UpstreamSimulator simulator)
    {
        var client = new HttpClient { BaseAddress = simulator.BaseUrl };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", SimulatorConfig.Key);
        return client;
    }

    private static async Task<JsonNode> GetJsonAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), body);
        return JsonNode.Parse(body)!;
    }

    private static DateTimeOffset Time(JsonNode value) => value.GetValueKind() == System.Text.Json.JsonValueKind.String
        ? DateTimeOffset.Parse(value.GetValue<string>(), CultureInfo.InvariantCulture)
        : value.GetValue<long>() > 100_000_000_000
            ? DateTimeOffset.FromUnixTimeMilliseconds(value.GetValue<long>())
            : DateTimeOffset.FromUnixTimeSeconds(value.GetValue<long>());

    private static string? NextLink(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Link", out var values)
            ? values.SelectMany(v => v.Split(','))
                .Where(part => part.Contains("rel=\"next\"", StringComparison.Ordinal))
                .Select(part => part[(part.IndexOf('<') + 1)..part.IndexOf('>')])
                .FirstOrDefault()
            : null;
}
