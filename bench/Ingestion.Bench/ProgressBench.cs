using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Bench;

/// <summary>
/// N upload jobs, each watched by M Server-Sent-Events clients from the moment it is accepted.
/// For every live event a client receives, the delay is its arrival minus the job's
/// <c>updatedAt</c> in it: the time the worker's saga transaction stamped the change. The
/// first event of each stream (the job as it was when the client connected) is not a live
/// delivery and is left out. Prints one line.
/// </summary>
internal static class ProgressBench
{
    public static async Task RunAsync(int jobs, int clients, int rows)
    {
        var servers = await NativeServers.StartAsync();
        await using var sandbox = await Sandbox.CreateAsync(servers, "bench_progress_" + Guid.NewGuid().ToString("N")[..6]);
        var settings = new Dictionary<string, string>(sandbox.Settings)
        {
            ["Processing__BatchRows"] = "1000",
            ["Limits__JobsPerHour"] = "100000",
        };
        await using var api = await HostProcess.StartAsync("Ingestion.Api", "bench-progress-api", settings);
        await using var worker = await HostProcess.StartAsync("Ingestion.Workers", "bench-progress-worker", settings);

        using var http = new HttpClient { BaseAddress = api.Url, Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.Add("X-Api-Key", Keys.Acme);
        (await http.PostAsJsonAsync("/v1/datasets", new
        {
            name = "bench_progress",
            columns = new[] { new { name = "n", type = "bigint", required = true }, new { name = "note", type = "text", required = false } },
        })).EnsureSuccessStatusCode();
        var csv = new StringBuilder("n,note\n");
        for (var i = 1; i <= rows; i++)
        {
            csv.Append(i).Append(",row ").Append(i).Append('\n');
        }

        var body = Encoding.UTF8.GetBytes(csv.ToString());
        Bench.Log($"{jobs} jobs of {rows:N0} rows, {clients / jobs} stream(s) each, {clients} in all");

        var watching = new List<Task<List<(string Name, double Ms)>>>();
        for (var j = 0; j < jobs; j++)
        {
            using var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
            using var accepted = await http.PostAsync("/v1/datasets/bench_progress/uploads", content);
            accepted.EnsureSuccessStatusCode();
            var path = accepted.Headers.Location!.ToString() + "/stream";
            for (var c = 0; c < clients / jobs; c++)
            {
                watching.Add(WatchAsync(http, path));
            }
        }

        var received = (await Task.WhenAll(watching)).SelectMany(d => d).ToList();
        foreach (var kind in received.GroupBy(r => r.Name))
        {
            var sorted = kind.Select(r => r.Ms).Order().ToList();
            Bench.Log(string.Create(CultureInfo.InvariantCulture,
                $"{kind.Key}: {sorted.Count} events, p50 {Percentile(sorted, 0.50):F1} ms, p95 {Percentile(sorted, 0.95):F1} ms, p99 {Percentile(sorted, 0.99):F1} ms, max {sorted[^1]:F1} ms"));
        }

        var delays = received.Select(r => r.Ms).Order().ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"progress events={delays.Count} p50_ms={Percentile(delays, 0.50):F1} p95_ms={Percentile(delays, 0.95):F1} p99_ms={Percentile(delays, 0.99):F1}"));
    }

    private static async Task<List<(string Name, double Ms)>> WatchAsync(HttpClient http, string path)
    {
        await using var stream = await EventSourceClient.OpenAsync(http, path);
        var delays = new List<(string, double)>();
        var first = true;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        while (await stream.NextAsync(timeout.Token) is { } received)
        {
            if (!first)
            {
                var changedAt = received.Data["updatedAt"]!.GetValue<DateTimeOffset>();
                delays.Add((received.Name, (received.ReceivedAt - changedAt).TotalMilliseconds));
            }

            first = false;
        }

        return delays;
    }

    private static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
}
