using System.Diagnostics;
using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Datasets;
using Ingestion.Tests.Infrastructure;
using MassTransit;

namespace Ingestion.Bench;

/// <summary>
/// A transactions CSV already in S3, loaded by a fresh worker through the whole pipeline
/// (ProcessUpload → S3 → CsvHelper → validation → binary COPY, batches and checkpoints),
/// against <c>psql \copy</c> of the same file into an identical table. Prints one line.
/// With several workers, a file larger than <c>Processing:ChunkBytes</c> is loaded in chunks by
/// all of them; worker CPU is summed and peak RSS is the largest worker's. With <c>--format csv.gz</c> (or <c>csv.zst</c>) the object
/// is the same CSV gzip- (or zstd-) compressed (compressed before the clock starts), decompressed by the worker as it reads;
/// with <c>--format parquet</c> it is the same rows as a typed Parquet file (<see cref="ParquetGenerator"/>). The reference
/// is still <c>psql \copy</c> of the plain CSV, so the ratio says what the format costs against plain PostgreSQL.
/// </summary>
internal static class IngestBench
{
    /// <summary>The workers' <c>Processing:ChunkBytes</c> when the bench does not set it (their default, 64 MiB).</summary>
    private const long WorkersChunkBytes = 64L << 20;

    /// <param name="workerJobs">
    /// The workers' <c>Workers:Jobs</c>: <c>upload</c>, as a deployment runs the workers that take large files, or
    /// <c>all</c> (every kind of job on every worker, the setting's default), or any list of kinds.
    /// </param>
    public static async Task RunAsync(long rows, int workerCount, long? chunkBytes, string format, int rowGroupRows = 100_000,
        string workerJobs = "upload")
    {
        if (format is not ("csv" or "csv.gz" or "csv.zst" or "parquet"))
        {
            throw new ArgumentException($"--format must be csv, csv.gz, csv.zst or parquet, not '{format}'");
        }

        var servers = await NativeServers.StartAsync();
        var path = CsvGenerator.Transactions(rows);
        var objectPath = await InFormatAsync(path, format, rowGroupRows);
        var warmUpRows = WarmUpRows(rows, new FileInfo(path).Length, chunkBytes ?? WorkersChunkBytes, format);
        var warmUpPath = await InFormatAsync(CsvGenerator.Transactions(warmUpRows), format, rowGroupRows);
        await using var sandbox = await Sandbox.CreateAsync(servers, "bench_ingest_" + Guid.NewGuid().ToString("N")[..6]);
        var settings = new Dictionary<string, string>(sandbox.Settings);
        if (chunkBytes is { } size)
        {
            settings["Processing__ChunkBytes"] = size.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (!workerJobs.Equals("all", StringComparison.OrdinalIgnoreCase))
        {
            settings["Workers__Jobs"] = workerJobs;
        }

        var workers = await HostProcess.StartWorkersAsync("bench-worker", workerCount, settings);
        await using var stop = new Workers(workers);
        var key = "bench/transactions." + format;
        var objectBytes = new FileInfo(objectPath).Length;
        Bench.Log($"putting {objectBytes:N0} bytes into S3 (not timed)");
        await Bench.PutFileAsync(sandbox, key, objectPath);

        if (format == "parquet")
        {
            // A service on the bus names no format: the dataset's is used, so the sandbox's transactions dataset declares it.
            await sandbox.ExecuteAsync(
                "update ingestion.datasets set definition = jsonb_set(definition, '{format}', '\"parquet\"') where tenant_id = 'acme' and name = 'transactions'");
        }

        await using var bus = await BusClient.ConnectAsync(sandbox);

        // A running service's workers have compiled their load path long before a large file arrives; fresh ones
        // compile it during the first job (the JIT optimizes every method at once, TieredCompilation being off), about
        // two seconds of two cores. One smaller job of the same format (at least two chunks when the file is chunked) is
        // loaded first and its rows and counters cleared, so the timed load meets workers as a user's upload does. A
        // one-chunk warm-up with several workers warms the one that takes it (and the saga's, whichever that is): the
        // timed load may still start on a fresh worker, which only makes it slower.
        await Bench.PutFileAsync(sandbox, "bench/warm-up." + format, warmUpPath);
        var warmUp = Stopwatch.StartNew();
        var warmUpJob = NewId.NextGuid();
        if (await LoadAsync(sandbox, bus, warmUpJob, "bench/warm-up." + format) != "Completed")
        {
            throw new InvalidOperationException("the warm-up job failed: " + await sandbox.ScalarAsync<string>(
                "select data->>'error' from ingestion.jobs where job_id = @id", ("id", warmUpJob)));
        }


        Bench.Log($"warm-up job ({warmUpRows:N0} rows, workers fresh) loaded in {Bench.F(warmUp.Elapsed.TotalSeconds)} s, not timed");
        await sandbox.ExecuteAsync("truncate tenant_acme.transactions, ingestion.account_changes, ingestion.dataset_changes");

        var jobId = NewId.NextGuid();
        await sandbox.ExecuteAsync("checkpoint");
        Bench.Log("loading through the pipeline");
        var cpuBefore = workers.Sum(w => Bench.CpuSeconds(w.Pid));
        var postgresBefore = PostgresCpuSeconds();
        Bench.Log($"{workerCount} worker(s) idle after start: {Bench.F(cpuBefore)} CPU seconds, {Bench.F(workers.Max(w => Bench.PeakRssMb(w.Pid)), 1)} MB peak RSS");
        var clock = Stopwatch.StartNew();
        var state = await LoadAsync(sandbox, bus, jobId, key);
        var ours = clock.Elapsed.TotalSeconds;
        var workerCpu = workers.Sum(w => Bench.CpuSeconds(w.Pid)) - cpuBefore;
        var postgresCpu = PostgresCpuSeconds() - postgresBefore;
        Bench.Log($"workers used {Bench.F(workerCpu)} CPU seconds, PostgreSQL's live processes {Bench.F(postgresCpu)}, "
            + $"over {Bench.F(ours)} s on {Environment.ProcessorCount} cores (the rest is waiting)");
        var processing = await sandbox.ScalarAsync<double>(
            "select extract(epoch from (data->>'completedAt')::timestamptz - (data->>'startedAt')::timestamptz)::float8 from ingestion.jobs where job_id = @id",
            ("id", jobId));
        Bench.Log($"publish to completed {Bench.F(ours)} s, of which the worker's processing (started to completed) {Bench.F(processing)} s");
        var rss = workers.Max(w => Bench.PeakRssMb(w.Pid));
        var chunks = await sandbox.ScalarAsync<long>("select count(*) from ingestion.upload_chunks where job_id = @id", ("id", jobId));
        if (state == "Failed")
        {
            throw new InvalidOperationException("the job failed: " + await sandbox.ScalarAsync<string>(
                "select data->>'error' from ingestion.jobs where job_id = @id", ("id", jobId)));
        }

        // Identical: same columns, same primary key, same index on (account_id, occurred_at).
        await sandbox.ExecuteAsync("create table tenant_acme.transactions_ref (like tenant_acme.transactions including all)");
        await sandbox.ExecuteAsync("checkpoint");
        Bench.Log("loading the same file with psql \\copy");
        var columns = string.Join(", ", BuiltInDatasets.Transactions.Columns.Select(c => c.Name));
        var psql = await Bench.TimeAsync(() => PsqlCopyAsync(sandbox, $"\\copy tenant_acme.transactions_ref ({columns}) from '{path}' with (format csv, header true)"));

        var loaded = await sandbox.ScalarAsync<long>("select count(*) from tenant_acme.transactions");
        var copied = await sandbox.ScalarAsync<long>("select count(*) from tenant_acme.transactions_ref");
        if (loaded != rows || copied != rows)
        {
            throw new InvalidOperationException($"expected {rows} rows, the pipeline loaded {loaded} and psql {copied}");
        }

        if (format == "parquet")
        {
            // The same values, not only the same count: a Parquet load converts every type, so check it row for row.
            // Not timed, and longer than a command's 30 s at tens of millions of rows.
            await using var compare = sandbox.Db.CreateCommand(
                "select count(*) from (select * from tenant_acme.transactions except select * from tenant_acme.transactions_ref) d");
            compare.CommandTimeout = 0;
            var differing = (long)(await compare.ExecuteScalarAsync())!;
            if (differing != 0)
            {
                throw new InvalidOperationException($"{differing} rows loaded from Parquet differ from psql's copy of the CSV");
            }
        }

        var groups = format == "parquet" ? $" row_group_rows={rowGroupRows}" : "";
        Console.WriteLine($"ingest format={format}{groups} object_bytes={objectBytes} rows={rows} workers={workerCount} worker_jobs={workerJobs} chunks={Math.Max(1, chunks)} seconds={Bench.F(ours)} rows_per_s={Bench.F(rows / ours, 0)} ratio_vs_psql_copy={Bench.F(psql / ours)} worker_peak_rss_mb={Bench.F(rss, 1)}");
        Bench.Log($"reference: psql \\copy {Bench.F(psql)} s ({Bench.F(rows / psql, 0)} rows/s)");
    }

    /// <summary>
    /// Publishes the upload of <paramref name="key"/> into acme's transactions, as a service on the bus would, and waits
    /// for its end: an hour at most, which no bench size here comes near (20,000,000 rows load in minutes).
    /// </summary>
    private static async Task<string> LoadAsync(Sandbox sandbox, BusClient bus, Guid jobId, string key)
    {
        await bus.Bus.Publish(new SubmitUpload(jobId, "acme", "transactions", sandbox.Bucket, key));
        var deadline = Stopwatch.StartNew();
        string? state;
        do
        {
            if (deadline.Elapsed > TimeSpan.FromHours(1))
            {
                throw new TimeoutException($"job {jobId} did not end within an hour");
            }

            await Task.Delay(50);
            state = await sandbox.ScalarAsync<string>("select current_state from ingestion.jobs where job_id = @id", ("id", jobId));
        }
        while (state is not ("Completed" or "Failed"));

        return state;
    }

    private static async Task<string> InFormatAsync(string csv, string format, int rowGroupRows) => format switch
    {
        "csv.gz" => await GzipAsync(csv),
        "csv.zst" => await ZstdAsync(csv),
        "parquet" => await ParquetGenerator.FromCsvAsync(csv, rowGroupRows),
        _ => csv,
    };

    /// <summary>
    /// Rows of the warm-up job: a tenth of the file up to 200,000 rows, or enough for two chunks when the file is loaded in chunks
    /// (a CSV whose size passes <paramref name="size"/>, the workers' chunk size; a Parquet file, cut by its columns' decompressed
    /// bytes, about half the CSV's per row here: 6 chunks of 64 MiB for 5,000,000 rows), so that the scan, the fork and the
    /// join are compiled too. A compressed file's warm-up stays one chunk: to be cut it would have to pass a chunk compressed
    /// (about 3,000,000 rows gzipped), so the timed load compiles the compressed scan and chunks, which counts against it.
    /// </summary>
    private static long WarmUpRows(long rows, long csvBytes, long size, string format)
    {
        var some = Math.Clamp(rows / 10, 1, 200_000);
        var chunkedBytes = format switch { "csv" => csvBytes, "parquet" => csvBytes / 2, _ => 0 };
        if (chunkedBytes <= size)
        {
            return some;
        }

        var bytesPerRow = Math.Max(1, chunkedBytes / rows);
        return Math.Min(rows, Math.Max(some, 2 * size / bytesPerRow + 1_000));
    }

    /// <summary>The generated CSV gzip-compressed next to it (the default level, as <c>gzip</c> writes it), not timed.</summary>
    private static async Task<string> GzipAsync(string path)
    {
        var gz = path + ".gz";
        Bench.Log($"compressing {new FileInfo(path).Length:N0} bytes with gzip (not timed)");
        await using (var source = File.OpenRead(path))
        await using (var target = File.Create(gz))
        await using (var gzip = new System.IO.Compression.GZipStream(target, System.IO.Compression.CompressionLevel.Optimal))
        {
            await source.CopyToAsync(gzip);
        }

        return gz;
    }

    /// <summary>The generated CSV zstd-compressed next to it (level 3, zstd's default), not timed.</summary>
    private static async Task<string> ZstdAsync(string path)
    {
        var zst = path + ".zst";
        if (File.Exists(zst))
        {
            return zst;
        }

        Bench.Log($"compressing {new FileInfo(path).Length:N0} bytes with zstd (not timed)");
        await using (var source = File.OpenRead(path))
        await using (var target = File.Create(zst + ".partial"))
        await using (var zstd = new ZstdSharp.CompressionStream(target, 3))
        {
            await source.CopyToAsync(zstd);
        }

        File.Move(zst + ".partial", zst);
        return zst;
    }

    /// <summary>
    /// CPU seconds of the PostgreSQL processes alive now: the workers' pooled backends live through the
    /// load, so the difference over it is PostgreSQL's share (a backend that ended meanwhile is missed).
    /// </summary>
    private static double PostgresCpuSeconds()
    {
        double total = 0;
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid))
            {
                continue;
            }

            try
            {
                if (File.ReadAllText($"/proc/{pid}/comm").Trim() == "postgres")
                {
                    total += Bench.CpuSeconds(pid);
                }
            }
            catch (IOException)
            {
                // The process ended while it was read.
            }
        }

        return total;
    }

    /// <summary>Stops every worker the bench started, however it ends.</summary>
    private sealed class Workers(IEnumerable<HostProcess> workers) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            foreach (var worker in workers)
            {
                await worker.DisposeAsync();
            }
        }
    }

    private static async Task PsqlCopyAsync(Sandbox sandbox, string command)
    {
        var servers = sandbox.Servers;
        var start = new ProcessStartInfo("psql") { RedirectStandardError = true };
        foreach (var argument in new[] { "-h", servers.PostgresHost, "-p", servers.PostgresPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                     "-U", servers.PostgresUser, "-d", sandbox.Database, "-v", "ON_ERROR_STOP=1", "-c", command })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["PGPASSWORD"] = servers.PostgresPassword;
        using var process = Process.Start(start)!;
        var errors = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"psql failed: {errors}");
        }
    }
}
