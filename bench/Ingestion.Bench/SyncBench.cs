using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Bench;

/// <summary>
/// Seed 004 at full size: the simulator serves N events newest first in pages of up to
/// <c>pageSize</c>, to one credential allowed <c>requestsPerSecond</c> requests in any second
/// (so the ceiling is their product, 50,000 events/s by default). The API and two workers sync
/// them into a dataset keyed by event id. Prints one line: how close to the ceiling the sync ran,
/// whether it ever went over the policy (the simulator counts every request that did, and every
/// 429), how many distinct rows PostgreSQL holds, and the workers' peak memory. The source declares a 5 ms margin unless
/// --margin-ms says otherwise: the simulator shares this machine's loopback, where what lies between a request leaving a
/// worker and the simulator counting it is the loopback and the simulator's event loop; the product's default, 25 ms, is for
/// an upstream a few network hops away. The simulator's over-policy count is what says whether the margin was enough.
/// </summary>
internal static class SyncBench
{
    private static readonly string[] Finished = ["synced", "failed", "cancelled"];

    private static readonly TimeSpan History = TimeSpan.FromDays(32);

    public static async Task<int> RunAsync(long events, int pageSize, int requestsPerSecond, string window, int workerCount, int parallelism,
        bool warmUp, int marginMs)
    {
        var servers = await NativeServers.StartAsync();
        await using var sandbox = await Sandbox.CreateAsync(servers, "bench_sync_" + Guid.NewGuid().ToString("N")[..6]);
        var policy = new SimulatorPolicy(requestsPerSecond, 1);

        // The events span the 32 days up to now, as a live API's would: partitions run from their start to now.
        var end = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var start = end - History;
        await using var simulator = await UpstreamSimulator.StartAsync(new SimulatorConfig
        {
            Events = checked((int)events),
            Start = start.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            End = end.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            PageSizeCap = pageSize,
            Policies = new SimulatorPolicies(Header: [policy], Query: [policy]),
            Window = window,
        });
        Bench.Log($"simulator at {simulator.BaseUrl}: {events:N0} events, pages of {pageSize:N0}, {requestsPerSecond} requests/s ({window} window), the source declaring a {marginMs} ms margin; "
                  + (parallelism > 0 ? $"{2 * parallelism} time slices, up to {parallelism} at once" : "no partitions"));

        var settings = new Dictionary<string, string>(sandbox.Settings) { ["Sources__AllowedHosts__0"] = "127.0.0.1" };
        await using var api = await HostProcess.StartAsync("Ingestion.Api", "bench-sync-api", settings);
        var workers = await HostProcess.StartWorkersAsync("bench-sync-worker", workerCount, settings);
        try
        {
            using var client = new HttpClient { BaseAddress = api.Url, Timeout = TimeSpan.FromMinutes(2) };
            client.DefaultRequestHeaders.Add("X-Api-Key", Keys.Acme);
            client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));

            var source = TestSources.Events("bench_events_api", "bench_events", simulator.BaseUrl);
            source["pagination"]!["pageSize"] = pageSize;
            source["rateLimit"] = JsonNode.Parse($$"""{"policies":[{"requests":{{requestsPerSecond}},"perSeconds":1}],"marginMilliseconds":{{marginMs}}}""");
            if (parallelism > 0)
            {
                // One cursor chain is a sequence of round trips; a data engineer splits the history into
                // time slices so several chains share the budget. Twice as many slices as may run at once:
                // the worker runs as many as the budget and the page latency need (up to parallelism), and
                // the pending ones keep that many busy to the end instead of a tail of a few long slices.
                source["partitions"] = new JsonObject
                {
                    ["start"] = start.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
                    ["sliceSeconds"] = (int)Math.Ceiling(History.TotalSeconds / (2 * parallelism)),
                    ["parallelism"] = parallelism,
                };
            }

            await TestSources.RegisterAsync(client, TestSources.EventsDataset("bench_events"), source);
            Bench.Log($"{workerCount} workers idle after start: {Bench.F(workers.Max(w => Bench.PeakRssMb(w.Pid)), 1)} MB peak RSS");
            if (warmUp)
            {
                await WarmUpAsync(client, simulator, source, workerCount, end);
            }

            await sandbox.ExecuteAsync("checkpoint");

            Bench.Log($"syncing with {workerCount} workers");
            var clock = Stopwatch.StartNew();
            var posted = DateTimeOffset.UtcNow;
            using var started = await client.PostAsJsonAsync("/v1/sources/bench_events_api/syncs", new { mode = "full" });
            var answer = await started.Content.ReadAsStringAsync();
            if ((int)started.StatusCode != 202)
            {
                Bench.Log($"the sync was not started: {(int)started.StatusCode} {answer}");
                return 1;
            }

            var jobId = JsonNode.Parse(answer)!["jobId"]!.GetValue<Guid>();
            var job = await WaitAsync(client, jobId, TimeSpan.FromSeconds(Math.Max(600, 10.0 * events / (pageSize * requestsPerSecond))));
            var seconds = clock.Elapsed.TotalSeconds;
            var status = job["status"]!.GetValue<string>();
            Bench.Log($"job {jobId}: {status} after {Bench.F(seconds)} s; progress {job["progress"]?.ToJsonString()}"
                      + (job["error"] is { } error ? $"; error {error.ToJsonString()}" : ""));

            var stats = await simulator.StatsAsync();
            var distinct = await sandbox.ScalarAsync<long>("select count(distinct id) from tenant_acme.bench_events");
            var rss = workers.Max(w => Bench.PeakRssMb(w.Pid));
            var rate = events / seconds;
            var ceiling = (double)pageSize * requestsPerSecond;
            Console.WriteLine($"sync events={events} seconds={Bench.F(seconds)} events_per_s={Bench.F(rate, 0)} ceiling_events_per_s={Bench.F(ceiling, 0)} "
                              + $"ratio_to_ceiling={Bench.F(rate / ceiling)} http_429={stats.Http429} over_policy={stats.OverPolicy} "
                              + $"distinct_rows={distinct} worker_peak_rss_mb={Bench.F(rss, 1)}");
            Bench.Log($"simulator: {stats.Requests} requests, {stats.Http5xx} 5xx, {stats.CursorExpired} expired cursors, {stats.EventsServed:N0} events served");
            if (stats is { FirstRequestMs: { } first, LastAnsweredMs: { } last })
            {
                // The time the upstream did not see: the job's start (API, bus, planning) and its end (the last load, the job's completion).
                var finished = posted + TimeSpan.FromSeconds(seconds);
                Bench.Log($"from the POST to the first upstream request: {first - posted.ToUnixTimeMilliseconds()} ms; "
                          + $"upstream busy {Bench.F((last - first) / 1000.0)} s; from its last answer to the job seen finished: "
                          + $"{finished.ToUnixTimeMilliseconds() - last} ms");
            }
            return status == "synced" && distinct == events ? 0 : 1;
        }
        finally
        {
            foreach (var worker in workers)
            {
                await worker.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// A worker's first sync compiles its code on the way (a second or more of JIT on this machine before the first request,
    /// much more under load), which a long-running worker pays once, not per sync. So, unless --warm-up 0, every worker first
    /// runs one small sync of its own source (the newest hours of the same upstream, same credential, into its own dataset),
    /// untimed; then the budget's window passes and the simulator's counters start again. Its figures are logged, not hidden.
    /// </summary>
    private static async Task WarmUpAsync(HttpClient client, UpstreamSimulator simulator, JsonObject source, int workerCount, DateTimeOffset end)
    {
        var clock = Stopwatch.StartNew();
        var jobs = new List<Guid>();
        for (var i = 0; i < workerCount; i++)
        {
            // One source each: syncs of one source never overlap, so the workers get one each at once.
            var name = $"bench_warm_{i}";
            var warm = (JsonObject)source.DeepClone();
            warm["name"] = $"{name}_api";
            warm["dataset"] = name;
            warm.Remove("partitions");
            await TestSources.RegisterAsync(client, TestSources.EventsDataset(name), warm);
            var range = new
            {
                mode = "full",
                since = (end - TimeSpan.FromHours(6 * (i + 1))).ToString("O", System.Globalization.CultureInfo.InvariantCulture),
                until = (end - TimeSpan.FromHours(6 * i)).ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            };
            using var started = await client.PostAsJsonAsync($"/v1/sources/{name}_api/syncs", range);
            var answer = await started.Content.ReadAsStringAsync();
            if ((int)started.StatusCode != 202)
            {
                throw new InvalidOperationException($"the warm-up sync was not started: {(int)started.StatusCode} {answer}");
            }

            jobs.Add(JsonNode.Parse(answer)!["jobId"]!.GetValue<Guid>());
        }

        foreach (var job in await Task.WhenAll(jobs.Select(id => WaitAsync(client, id, TimeSpan.FromMinutes(5)))))
        {
            if (job["status"]!.GetValue<string>() != "synced")
            {
                throw new InvalidOperationException($"a warm-up sync ended {job["status"]}: {job.ToJsonString()}");
            }
        }

        // Past the policy's window (and its margin), so the timed sync starts with the whole budget, then counters from zero.
        await Task.Delay(TimeSpan.FromSeconds(2));
        var stats = await simulator.StatsAsync();
        Bench.Log($"warm-up (untimed): {workerCount} syncs of 6 h of events in {Bench.F(clock.Elapsed.TotalSeconds)} s; simulator: "
                  + $"{stats.Requests} requests, {stats.Http429} 429s, {stats.OverPolicy} over policy, {stats.EventsServed:N0} events");
        await simulator.ResetStatsAsync();
    }

    private static async Task<JsonNode> WaitAsync(HttpClient client, Guid jobId, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = "never found";
        while (DateTime.UtcNow < deadline)
        {
            using var response = await client.GetAsync($"/v1/jobs/{jobId}");
            last = await response.Content.ReadAsStringAsync();
            if (response.IsSuccessStatusCode && JsonNode.Parse(last)! is var job && Finished.Contains(job["status"]!.GetValue<string>()))
            {
                return job;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"job {jobId} did not finish within {timeout.TotalSeconds:0} s; last seen: {last}");
    }
}
