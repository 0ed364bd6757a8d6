using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;
using Microsoft.Playwright;

namespace Ingestion.Tests.EndToEnd.Console.Views;

/// <summary>
/// A tenant registers a source on the simulator from the Sources page, starts a sync on the
/// source's page and watches it to the end, with the rate budget it used: the page and
/// <c>GET /v1/sources/{name}/budget</c> count exactly the requests the simulator received.
/// </summary>
public sealed class When_a_source_is_synced_in_the_console : ViewsTest
{
    private const int Events = 300;
    private readonly string _name = "console_events_" + Guid.NewGuid().ToString("N")[..6];

    [Test]
    public async Task Should_sync_to_the_end_and_show_the_budget_it_used()
    {
        await ViewsRun.Simulator.ReconfigureAsync(new SimulatorConfig
        {
            Events = Events,
            Policies = new SimulatorPolicies(Header: [new SimulatorPolicy(30, 60)]),
        });
        using var acme = ViewsRun.Stack.Client(Keys.Acme);
        (await acme.PostAsJsonAsync("/v1/datasets", new
        {
            name = _name,
            columns = new object[]
            {
                new { name = "id", type = "uuid", required = true },
                new { name = "type", type = "text", required = true },
                new { name = "occurred_at", type = "timestamptz", required = true },
                new { name = "value", type = "numeric(10,2)", required = false },
            },
            key = new[] { "id" },
        })).EnsureSuccessStatusCode();

        await SignInAsync(Keys.Acme, "#/sources");
        await Page.GetByLabel("Definition (JSON)").FillAsync(Definition());
        await Page.GetByRole(AriaRole.Button, new() { Name = "Register" }).ClickAsync();
        await Assertions.Expect(Page.GetByRole(AriaRole.Heading, new() { Name = $"Source {_name}" })).ToBeVisibleAsync();

        await ViewsRun.Simulator.ResetStatsAsync();
        await Page.GetByRole(AriaRole.Button, new() { Name = "Start a sync" }).ClickAsync();
        await Assertions.Expect(Page.Locator(".sync-run p[role=status]")).ToContainTextAsync("synced", new() { Timeout = 60_000 });
        var facts = Page.Locator(".sync-run dl.facts");
        await Assertions.Expect(facts).ToContainTextAsync($"Rows loaded{Events}");
        await Assertions.Expect(facts).ToContainTextAsync("difference 0");

        var requests = (await ViewsRun.Simulator.StatsAsync()).Requests;
        Assert.That(requests, Is.GreaterThanOrEqualTo(Events / 50), "pages of 50");
        var budget = (await acme.GetFromJsonAsync<JsonObject>($"/v1/sources/{_name}/budget"))!;
        // Other sources on the same credential (another test's, never synced) are listed as "shared".
        var policy = budget["policies"]!.AsArray().Single(p => p!["origin"]!.GetValue<string>() == "declared")!;
        Assert.That(policy["requests"]!.GetValue<int>(), Is.EqualTo(30));
        Assert.That(policy["perSeconds"]!.GetValue<int>(), Is.EqualTo(60));
        Assert.That(budget["windowSeconds"]!.GetValue<int>(), Is.EqualTo(60));
        Assert.That(policy["used"]!.GetValue<long>(), Is.EqualTo(requests), "the sync's requests, all within the last minute");
        Assert.That(budget["grants"]!.AsArray().Sum(g => g!["requests"]!.GetValue<long>()), Is.EqualTo(requests),
            "every request the simulator received was granted by the budget, and no other");

        // The page read the budget again when the sync ended.
        await Assertions.Expect(Page.Locator("[data-policy='30/60'] .used")).ToHaveTextAsync($"{requests} used");
        await Assertions.Expect(Page.Locator("svg.chart rect.bar").First).ToBeAttachedAsync();
        await ScreenshotAsync("source");
        AssertNoConsoleErrors();
    }

    private string Definition() => JsonSerializer.Serialize(new
    {
        name = _name,
        dataset = _name,
        request = new { baseUrl = ViewsRun.Simulator.BaseUrl.ToString(), path = "/v1/events" },
        auth = new { @in = "header", name = "Authorization", prefix = "Bearer ", secret = SimulatorConfig.Key },
        pagination = new { style = "cursor", cursorPath = "$.meta.next_cursor", cursorParameter = "cursor", hasMorePath = "$.meta.has_more",
            limitParameter = "limit", pageSize = 50 },
        records = new { path = "$.data", totalPath = "$.meta.total",
            fields = new Dictionary<string, string> { ["id"] = "$.id", ["type"] = "$.type", ["occurred_at"] = "$.timestamp", ["value"] = "$.value" } },
        rateLimit = new { policies = new[] { new { requests = 30, perSeconds = 60 } } },
    });
}
