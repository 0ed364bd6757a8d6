using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Runtime;
using System.Runtime.CompilerServices;
using Ingestion.Platform.Datasets;
using Ingestion.Tests.Infrastructure;
using Npgsql;

namespace Ingestion.Bench;

/// <summary>
/// The read API under an open-loop load: requests leave at a fixed arrival rate whatever the
/// answers do (latency counts from when a request was due, so a slow server cannot hide its
/// queue), over the mix: 70 % account transaction pages, 20 % account summaries, 10 %
/// filtered dataset queries, half of them revalidating an ETag they were given. Then rising
/// rates until p99 passes 50 ms, and a CSV export timed against <c>psql \copy … to stdout</c>
/// of the same rows. Data is generated inside PostgreSQL (<c>INSERT … SELECT generate_series</c>),
/// not through the upload path, so the setup takes a minute rather than the load's own time.
/// </summary>
internal static class ReadBench
{
    private const string Period = "from=2026-01-01&to=2026-01-31";

    /// <param name="exportOnly">Only the export against psql (no transactions, no load): what to run while working on the export.</param>
    public static async Task RunAsync(long transactions, long accounts, int rate, int seconds, int stepSeconds, long exportRows,
        bool exportOnly, bool explain)
    {
        var servers = await NativeServers.StartAsync();
        await using var sandbox = await Sandbox.CreateAsync(servers, "bench_read_" + Guid.NewGuid().ToString("N")[..6]);
        var settings = new Dictionary<string, string>(sandbox.Settings)
        {
            // The bench measures the read path, not the budget that protects it.
            ["Reads__Budget__PerSecond"] = "1000000",
            ["Reads__Budget__Burst"] = "1000000",
            ["Serilog__MinimumLevel__Override__Serilog.AspNetCore.RequestLoggingMiddleware"] = "Warning",
        };
        await using var api = await HostProcess.StartAsync("Ingestion.Api", "bench-read-api", settings);
        using var client = Client(api);
        if (exportOnly)
        {
            await ExportAsync(sandbox, client, api, exportRows);
            return;
        }

        Bench.Log($"generating {transactions:N0} transactions over {accounts:N0} accounts in PostgreSQL (not timed)");
        var generated = await Bench.TimeAsync(() => GenerateTransactionsAsync(sandbox, transactions, accounts));
        Bench.Log($"generated in {Bench.F(generated)} s");

        // A service in production is warm: its JIT has compiled the read path, its pool holds
        // connections and PostgreSQL's cache holds the hot pages. A cold process taking 2,000 req/s
        // at once measures its first seconds of start-up (queueing that never drains), not the read
        // path, so the measured minute follows a short ramp that is reported, not counted.
        // The apps' ETags outlive each run, as a phone's cache outlives a traffic step: a run that started with none made
        // its first seconds full reads where the mix says half revalidate (in four runs, the minute's worst second was one of its first four).
        var apps = new Apps();
        foreach (var warm in new[] { rate / 8, rate / 4, rate / 2, rate })
        {
            var ramp = await OpenLoopAsync(client, apps, accounts, Math.Max(warm, 1), TimeSpan.FromSeconds(5));
            Bench.Log($"warm-up (not counted) {warm} req/s for 5 s: p50 {Bench.F(ramp.P50)} ms, p99 {Bench.F(ramp.P99)} ms, errors {ramp.Errors}");
        }

        Bench.Log($"open loop at {rate} req/s for {seconds} s");
        LoadResult result;
        await using (var watch = ReadSeconds.Begin(sandbox, api, explain))
        {
            var offset = (DateTimeOffset.UtcNow - watch.Start).TotalSeconds;
            result = await OpenLoopAsync(client, apps, accounts, rate, TimeSpan.FromSeconds(seconds));
            Console.WriteLine($"read rps={rate} p50_ms={Bench.F(result.P50)} p99_ms={Bench.F(result.P99)} errors={result.Errors} not_modified={result.NotModified} api_peak_rss_mb={Bench.F(Bench.PeakRssMb(api.Pid), 1)}");
            Bench.Log($"achieved {Bench.F(result.Achieved, 0)} req/s, {result.Count:N0} requests, client send lag p99 {Bench.F(result.SendLagP99)} ms");
            watch.Report(result.ByDue, result.SendLags, rate, offset, slowMs: 20);
        }

        var best = 0;
        double bestP99 = 0;
        foreach (var step in new[] { 250, 500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000 })
        {
            var run = step == rate && stepSeconds >= seconds ? result : await OpenLoopAsync(client, apps, accounts, step, TimeSpan.FromSeconds(stepSeconds));
            Bench.Log($"step {step} req/s: p50 {Bench.F(run.P50)} ms, p99 {Bench.F(run.P99)} ms, errors {run.Errors}, achieved {Bench.F(run.Achieved, 0)} req/s");
            if (run.P99 >= 50 || run.Errors > 0 || run.Achieved < step * 0.95)
            {
                break;
            }

            (best, bestP99) = (step, run.P99);
        }

        Console.WriteLine($"read max_rps_p99_under_50ms={best} p99_ms={Bench.F(bestP99)} step_seconds={stepSeconds}");

        await ExportAsync(sandbox, client, api, exportRows);
    }

    private static HttpClient Client(HostProcess api)
    {
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 512, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) };
        var client = new HttpClient(handler) { BaseAddress = api.Url, Timeout = TimeSpan.FromMinutes(30) };
        client.DefaultRequestHeaders.Add("X-Api-Key", Keys.Acme);
        return client;
    }

    /// <summary>About 50 transactions an account over 2026, amounts and categories varied.</summary>
    private static async Task GenerateTransactionsAsync(Sandbox sandbox, long rows, long accounts)
    {
        await using var connection = await sandbox.Db.OpenConnectionAsync();
        await using (var insert = new NpgsqlCommand("""
            insert into tenant_acme.transactions (transaction_id, account_id, occurred_at, amount, currency, merchant, category, description)
            select gen_random_uuid(), i % @accounts + 1,
                   timestamptz '2026-01-01 00:00:00+00' + (i / @accounts) * (interval '364 days' / greatest(@rows / @accounts, 1)) + (i % 86400) * interval '1 second',
                   ((i * 7919) % 200000 - 100000) / 100.0, 'CHF', 'Shop ' || i % 500,
                   (array['groceries', 'travel', 'rent', 'salary', 'fees', 'health'])[i % 6 + 1], 'Bench line ' || i
            from generate_series(0, @rows - 1) as s(i)
            """, connection) { CommandTimeout = 0 })
        {
            insert.Parameters.AddWithValue("rows", rows);
            insert.Parameters.AddWithValue("accounts", accounts);
            await insert.ExecuteNonQueryAsync();
        }

        // What a load of these rows would have done to the counters.
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            var ids = new List<long>();
            for (long a = 1; a <= accounts; a++)
            {
                ids.Add(a);
            }

            await DatasetChanges.BumpAsync(connection, transaction, "acme", "transactions", rows, ids, CancellationToken.None);
            await transaction.CommitAsync();
        }

        foreach (var table in new[] { "tenant_acme.transactions", "ingestion.account_changes" })
        {
            await using var analyze = new NpgsqlCommand($"vacuum analyze {table}", connection) { CommandTimeout = 0 };
            await analyze.ExecuteNonQueryAsync();
        }

        // The setup wrote 3 GB of WAL and every page of the table (the insert, then the vacuum's visibility bits):
        // PostgreSQL checkpoints that spread over minutes (checkpoint_completion_target of checkpoint_timeout) and ends
        // by fsyncing every file it wrote. Left alone, that checkpoint ran through the warm-up and the measured minute
        // (server log: "checkpoint starting: wal" during the insert, "write=122.8 s, sync=2.2 s" after it), so the
        // minute measured the setup's writes landing on disk, not reads. The same goes for autovacuum's first pass
        // over the 100,000 account counters the setup inserted, hence the vacuum of that table too. Whatever
        // checkpoint or autovacuum still falls in the minute is reported with its slowest second.
        await using var checkpoint = new NpgsqlCommand("checkpoint", connection) { CommandTimeout = 0 };
        await checkpoint.ExecuteNonQueryAsync();
    }

    /// <param name="ByDue">Each request's latency, in the order they were due.</param>
    /// <param name="SendLags">
    /// How late the client started each request (ms after it was due): the client's own lag, inside the latency. It ends when
    /// the request is handed to the HTTP client, so a wait for one of its connections is not in it (that is in the latency).
    /// </param>
    private sealed record LoadResult(int Count, double P50, double P99, int Errors, int NotModified, double Achieved, double[] ByDue,
        double[] SendLags, double SendLagP99);

    /// <summary>
    /// The population of apps the load stands for: which request comes next, and the ETags they were given, kept
    /// from one run to the next.
    /// </summary>
    private sealed class Apps
    {
        public Random Random { get; } = new(42);

        /// <summary>Pages answered with an ETag lately (a bounded set): a revalidation picks one of them.</summary>
        public Seen?[] Recent { get; } = new Seen?[4096];
    }

    private sealed record Seen(string Path, string ETag);

    /// <summary>Requests leave when they are due, not when the previous one came back.</summary>
    private static async Task<LoadResult> OpenLoopAsync(HttpClient client, Apps apps, long accounts, int rate, TimeSpan duration)
    {
        var total = (int)(rate * duration.TotalSeconds);
        var latencies = new double[total];
        var lags = new double[total];
        var errors = 0;
        var notModified = 0;
        var (recent, random) = (apps.Recent, apps.Random);
        // Not a list of every request's task: 120,000 of them kept to the end were what the client's own GC
        // promoted and scanned in its gen1 collections (pauses that stall the client and read as latency).
        var outstanding = new StrongBox<int>(1);
        var finished = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var clock = Stopwatch.StartNew();
        var ticksPerRequest = Stopwatch.Frequency / (double)rate;
        // The client must not stall the run it measures: no blocking full collection while requests are due.
        var latencyMode = GCSettings.LatencyMode;
        GCSettings.LatencyMode = GCLatencyMode.SustainedLowLatency;
        // Restored however the run ends: the steps and the export that follow must not run in it by accident.
        try
        {
            var start = Stopwatch.GetTimestamp();
            for (var i = 0; i < total; i++)
            {
                var due = start + (long)(i * ticksPerRequest);
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.FromMilliseconds(1))
                {
                    await Task.Delay(wait);
                }

                // Half revalidate a page they were given before (when there is one), as an app refreshing its list does.
                string path;
                string? etag = null;
                if (random.Next(2) == 0 && recent[random.Next(recent.Length)] is { } seen)
                {
                    (path, etag) = (seen.Path, seen.ETag);
                }
                else
                {
                    path = NewPath(random, accounts);
                }

                var slot = i;
                Interlocked.Increment(ref outstanding.Value);
                _ = Task.Run(async () =>
                {
                    lags[slot] = Stopwatch.GetElapsedTime(due).TotalMilliseconds;
                    try
                    {
                        using var request = new HttpRequestMessage(HttpMethod.Get, path);
                        if (etag is not null)
                        {
                            request.Headers.TryAddWithoutValidation("If-None-Match", etag);
                        }

                        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead);
                        if (response.StatusCode == HttpStatusCode.NotModified)
                        {
                            Interlocked.Increment(ref notModified);
                        }
                        else if (response.IsSuccessStatusCode)
                        {
                            if (response.Headers.ETag is { } tag)
                            {
                                recent[slot % recent.Length] = new Seen(path, tag.ToString());
                            }
                        }
                        else
                        {
                            Interlocked.Increment(ref errors);
                        }
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                    {
                        Interlocked.Increment(ref errors);
                    }
                    catch (Exception e)
                    {
                        finished.TrySetException(e);
                    }

                    latencies[slot] = Stopwatch.GetElapsedTime(due).TotalMilliseconds;
                    if (Interlocked.Decrement(ref outstanding.Value) == 0)
                    {
                        finished.TrySetResult();
                    }
                });
            }

            if (Interlocked.Decrement(ref outstanding.Value) == 0)
            {
                finished.TrySetResult();
            }

    await finished.Task;
        }
        finally
        {
            GCSettings.LatencyMode = latencyMode;
        }

        var achieved = total / clock.Elapsed.TotalSeconds;
        var byDue = (double[])latencies.Clone();
        Array.Sort(latencies);
        var sortedLags = (double[])lags.Clone();
        Array.Sort(sortedLags);
        return new LoadResult(total, Percentile(latencies, 0.50), Percentile(latencies, 0.99), errors, notModified,
            Math.Min(achieved, total / duration.TotalSeconds), byDue, lags, Percentile(sortedLags, 0.99));
    }

    /// <summary>70 % a page of an account's transactions, 20 % its month's summary, 10 % a filtered dataset query.</summary>
    private static string NewPath(Random random, long accounts)
    {
        var account = random.NextInt64(1, accounts + 1);
        var pick = random.Next(100);
        return pick switch
        {
            < 70 => $"/v1/accounts/{account}/transactions?limit=25",
            < 90 => $"/v1/accounts/{account}/summary?{Period}",
            _ => $"/v1/datasets/transactions/rows?account_id={account}&occurred_at[gte]=2026-03-01T00:00:00Z&occurred_at[lt]=2026-07-01T00:00:00Z&limit=50",
        };
    }

    private static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];

    /// <summary>The same rows, the same SELECT: through the API as CSV, then with psql \copy to stdout (both read to the end and discarded).</summary>
    private static async Task ExportAsync(Sandbox sandbox, HttpClient client, HostProcess api, long rows)
    {
        var dataset = "export_rows";
        using (var created = await client.PostAsJsonAsync("/v1/datasets", new
        {
            name = dataset,
            columns = BuiltInDatasets.Transactions.Columns.Select(c => new { name = c.Name, type = c.Type.ToSql(), required = c.Required }),
        }))
        {
            created.EnsureSuccessStatusCode();
        }

        Bench.Log($"generating {rows:N0} rows to export (not timed)");
        await using (var connection = await sandbox.Db.OpenConnectionAsync())
        {
            await using var insert = new NpgsqlCommand($"""
                insert into tenant_acme.{dataset} select gen_random_uuid(), i % 100000 + 1,
                    timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second', ((i * 7919) % 200000 - 100000) / 100.0, 'CHF',
                    'Shop ' || i % 500, (array['groceries', 'travel', 'rent'])[i % 3 + 1], 'Export line ' || i
                from generate_series(0, @rows - 1) as s(i)
                """, connection) { CommandTimeout = 0 };
            insert.Parameters.AddWithValue("rows", rows);
            await insert.ExecuteNonQueryAsync();
            await using var analyze = new NpgsqlCommand($"vacuum analyze tenant_acme.{dataset}", connection) { CommandTimeout = 0 };
            await analyze.ExecuteNonQueryAsync();
        }
        var rssBefore = Bench.PeakRssMb(api.Pid);
        var cpuBefore = Bench.CpuSeconds(api.Pid);

        long bytes = 0;
        var ours = await Bench.TimeAsync(async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/datasets/{dataset}/rows");
            request.Headers.Accept.ParseAdd("text/csv");
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            response.EnsureSuccessStatusCode();
            await using var body = await response.Content.ReadAsStreamAsync();
            var buffer = new byte[1 << 16];
            int read;
            while ((read = await body.ReadAsync(buffer)) > 0)
            {
                bytes += read;
            }
        });
        var rss = Bench.PeakRssMb(api.Pid);
        var cpu = Bench.CpuSeconds(api.Pid) - cpuBefore;
        var columns = string.Join(", ", BuiltInDatasets.Transactions.Columns.Select(c => Identifier.Quote(c.Name)));
        var psql = await Bench.TimeAsync(() => PsqlToNullAsync(sandbox,
            $"\\copy (select {columns} from \"tenant_acme\".\"{dataset}\") to stdout with (format csv, header true)"));
        Console.WriteLine($"export rows={rows} ratio_vs_psql_copy_out={Bench.F(psql / ours)} api_peak_rss_mb={Bench.F(rss, 1)}");
        Bench.Log($"API {Bench.F(ours)} s ({bytes:N0} bytes), psql \\copy to stdout {Bench.F(psql)} s; API CPU {Bench.F(cpu)} s during its export; API peak RSS before the export {Bench.F(rssBefore, 1)} MB");
    }

    private static async Task PsqlToNullAsync(Sandbox sandbox, string command)
    {
        var servers = sandbox.Servers;
        var start = new ProcessStartInfo("psql") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in new[] { "-h", servers.PostgresHost, "-p", servers.PostgresPort.ToString(CultureInfo.InvariantCulture),
                     "-U", servers.PostgresUser, "-d", sandbox.Database, "-v", "ON_ERROR_STOP=1", "-c", command })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["PGPASSWORD"] = servers.PostgresPassword;
        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.BaseStream.CopyToAsync(Stream.Null);
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"psql failed: {await errors}");
        }
    }
}
