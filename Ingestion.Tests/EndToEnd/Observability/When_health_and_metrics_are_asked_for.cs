using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Observability;

/// <summary>
/// Health checks and metrics live on each host's management port, not on the port the API is
/// published on; and a burst of scrapes does not turn into a burst of queries.
/// </summary>
public sealed partial class When_health_and_metrics_are_asked_for
{
    [Test]
    public async Task Should_answer_them_only_on_the_management_port()
    {
        using var anonymous = new HttpClient();
        foreach (var host in TestRun.Shared.Workers.Prepend(TestRun.Shared.Api))
        {
            foreach (var path in new[] { "/metrics", "/health/ready" })
            {
                using var outside = await anonymous.GetAsync(new Uri(host.Url, path));
                Assert.That(outside.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), $"{host.Name}: {path} on the public port");
                using var inside = await anonymous.GetAsync(new Uri(host.ManagementUrl, path));
                Assert.That(inside.StatusCode, Is.EqualTo(HttpStatusCode.OK), $"{host.Name}: {path} on the management port");
            }

            // The Host header is the caller's to write: it does not open the management endpoints.
            using var spoofed = new HttpRequestMessage(HttpMethod.Get, new Uri(host.Url, "/metrics"));
            spoofed.Headers.Host = $"127.0.0.1:{host.ManagementPort}";
            using var refused = await anonymous.SendAsync(spoofed);
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), $"{host.Name}: /metrics with the management port as Host");

            using var live = await anonymous.GetAsync(new Uri(host.Url, "/health/live"));
            Assert.That(live.StatusCode, Is.EqualTo(HttpStatusCode.OK), $"{host.Name}: a liveness probe may use the public port");
        }

        var api = await anonymous.GetStringAsync(new Uri(TestRun.Shared.Api.ManagementUrl, "/metrics"));
        Assert.That(Value(api, "ingestion_live_streams"), Is.GreaterThanOrEqualTo(0), "the API's own gauges");
        Assert.That(api, Does.Contain("ingestion_outbox_pending "));
        var worker = await anonymous.GetStringAsync(new Uri(TestRun.Shared.Workers[0].ManagementUrl, "/metrics"));
        Assert.That(worker, Does.Contain("process_cpu_seconds_total "));

        using var acme = TestRun.Shared.Client(Keys.Acme);
        using var api404 = await acme.GetAsync(new Uri(TestRun.Shared.Api.ManagementUrl, "/v1/datasets"));
        Assert.That(api404.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "the API is not served on the management port");
        using var datasets = await acme.GetAsync("/v1/datasets");
        Assert.That(datasets.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the API is served on the public port");
    }

    [Test]
    public async Task Should_read_the_shared_gauges_at_most_once_per_interval_however_often_scraped()
    {
        var interval = TimeSpan.FromSeconds(5);
        await using var stack = await Deployment.StartAsync(TestRun.Servers, "gauges", new Dictionary<string, string>
        {
            ["Management__GaugeInterval"] = "00:00:05",
        }, workers: 0);
        using var scraper = new HttpClient();
        var metrics = new Uri(stack.Api.ManagementUrl, "/metrics");

        var before = Completed(await scraper.GetStringAsync(metrics));
        var read = Stopwatch.StartNew();
        // A job that ends between two scrapes (written directly: no worker needed to change the count).
        await stack.Sandbox.ExecuteAsync("""
            insert into ingestion.jobs (job_id, kind, tenant_id, current_state, version, created_at, updated_at, data)
            values (@id, 'upload', 'acme', 'Completed', 1, now(), now(), '{}')
            """, ("id", Guid.NewGuid()));

        var burst = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => scraper.GetStringAsync(metrics)));
        if (read.Elapsed > interval - TimeSpan.FromSeconds(1))
        {
            Assert.Inconclusive($"the burst took until {read.Elapsed.TotalSeconds:0.0} s, too close to the interval to tell");
        }

        Assert.That(burst.Select(Completed), Has.All.EqualTo(before), "within the interval, every scrape gets the figures of the first");

        await Task.Delay(interval - read.Elapsed + TimeSpan.FromSeconds(0.5));
        Assert.That(Completed(await scraper.GetStringAsync(metrics)), Is.EqualTo(before + 1), "after the interval, the next scrape reads again");
    }

    private static double Completed(string exposition) =>
        CompletedUploads().Match(exposition) is { Success: true } match
            ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture)
            : 0;

    private static double Value(string exposition, string name)
    {
        var match = Regex.Match(exposition, $"^{Regex.Escape(name)} (\\S+)$", RegexOptions.Multiline);
        Assert.That(match.Success, Is.True, $"{name} is not exposed");
        return double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    [GeneratedRegex("""^ingestion_jobs\{kind="upload",state="Completed"\} (\S+)$""", RegexOptions.Multiline)]
    private static partial Regex CompletedUploads();
}
