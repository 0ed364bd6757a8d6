using System.Diagnostics;
using Ingestion.Contracts.Statements;
using Ingestion.Contracts.Uploads;
using Ingestion.Tests.Infrastructure;
using MassTransit;

namespace Ingestion.Bench;

/// <summary>
/// N transactions of one account (loaded through the pipeline, untimed), then its statement
/// over the two years they span: rendered by a fresh worker, timed from request to ready, and
/// rendered again by a worker with compression off to show what compression saves. Prints one line.
/// </summary>
internal static class StatementBench
{
    private const long Account = 424_242;

    public static async Task RunAsync(long lines)
    {
        var servers = await NativeServers.StartAsync();
        var path = CsvGenerator.Transactions(lines, Account);
        await using var sandbox = await Sandbox.CreateAsync(servers, "bench_statement_" + Guid.NewGuid().ToString("N")[..6]);
        await using var bus = await BusClient.ConnectAsync(sandbox);

        await using (var loader = await HostProcess.StartAsync("Ingestion.Workers", "bench-loader", sandbox.Settings))
        {
            Bench.Log($"loading {lines:N0} transactions of account {Account} (not timed)");
            await Bench.PutFileAsync(sandbox, "bench/statement.csv", path);
            var load = NewId.NextGuid();
            await bus.Bus.Publish(new SubmitUpload(load, "acme", "transactions", sandbox.Bucket, "bench/statement.csv"));
            await WaitAsync(sandbox, load, "Completed");
        }

        double seconds;
        double rss;
        int pages;
        long compressed;
        await using (var worker = await HostProcess.StartAsync("Ingestion.Workers", "bench-statement", sandbox.Settings))
        {
            Bench.Log($"rendering (worker idle: {Bench.F(Bench.PeakRssMb(worker.Pid), 1)} MB peak RSS)");
            var clock = Stopwatch.StartNew();
            var job = await RequestAsync(bus, sandbox);
            seconds = clock.Elapsed.TotalSeconds;
            rss = Bench.PeakRssMb(worker.Pid);
            pages = await sandbox.ScalarAsync<int>("select (data->>'pagesTotal')::int from ingestion.jobs where job_id = @id", ("id", job));
            compressed = await sandbox.ScalarAsync<long>("select (data->>'documentBytes')::bigint from ingestion.jobs where job_id = @id", ("id", job));
            var volumes = await sandbox.ScalarAsync<int>("select (data->>'volumes')::int from ingestion.jobs where job_id = @id", ("id", job));
            var rendering = await sandbox.ScalarAsync<double>(
                "select extract(epoch from (data->>'completedAt')::timestamptz - (data->>'startedAt')::timestamptz)::float8 from ingestion.jobs where job_id = @id",
                ("id", job));
            Bench.Log($"{pages:N0} pages in {volumes} volume(s), {compressed:N0} bytes, {Bench.F(seconds)} s from request to ready, {Bench.F(rendering)} s of them rendering");
        }

        var settings = new Dictionary<string, string>(sandbox.Settings) { ["Statements__CompressContent"] = "false" };
        long uncompressed;
        await using (var plain = await HostProcess.StartAsync("Ingestion.Workers", "bench-statement-uncompressed", settings))
        {
            Bench.Log("rendering the same statement without compression");
            var job = await RequestAsync(bus, sandbox);
            uncompressed = await sandbox.ScalarAsync<long>("select (data->>'documentBytes')::bigint from ingestion.jobs where job_id = @id", ("id", job));
        }

        Console.WriteLine($"statement lines={lines} pages={pages} seconds={Bench.F(seconds)} pages_per_s={Bench.F(pages / seconds, 0)} pdf_bytes={compressed} uncompressed_bytes={uncompressed} worker_peak_rss_mb={Bench.F(rss, 1)}");
    }

    private static async Task<Guid> RequestAsync(BusClient bus, Sandbox sandbox)
    {
        var job = NewId.NextGuid();
        await bus.Bus.Publish(new BuildStatement(job, "acme", Account, CsvGenerator.FirstDay, CsvGenerator.FirstDay.AddYears(2).AddDays(-1)));
        await WaitAsync(sandbox, job, "Ready");
        return job;
    }

    private static async Task WaitAsync(Sandbox sandbox, Guid job, string state)
    {
        string? current;
        do
        {
            await Task.Delay(50);
            current = await sandbox.ScalarAsync<string>("select current_state from ingestion.jobs where job_id = @id", ("id", job));
            if (current == "Failed")
            {
                throw new InvalidOperationException("job failed: " + await sandbox.ScalarAsync<string>(
                    "select data->>'error' from ingestion.jobs where job_id = @id", ("id", job)));
            }
        }
        while (current != state);
    }
}
