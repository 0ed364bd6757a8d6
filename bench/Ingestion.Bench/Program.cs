using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using Amazon.S3;
using Amazon.S3.Model;
using Ingestion.Bench;
using Ingestion.Tests.Infrastructure;

// make bench-upload: Ingestion.Bench upload --bytes N
// make bench-ingest: Ingestion.Bench ingest --rows N [--workers N] [--chunk-bytes N] [--format csv|csv.gz|csv.zst|parquet] [--row-group-rows 100000]
// make bench-statement: Ingestion.Bench statement --lines N
// make bench-progress: Ingestion.Bench progress --jobs 50 --clients 200
// make bench-read: Ingestion.Bench read --transactions N --accounts N --rate R --seconds S --step-seconds S --export-rows N [--export-only 1]
// make chaos: Ingestion.Bench chaos --minutes 10 [--grace 300] [--seed N]
// make bench-sync: Ingestion.Bench sync --events N [--page-size 5000] [--requests-per-second 10] [--window sliding] [--workers 2] [--parallelism 16] [--warm-up 1] [--margin-ms 5]
var command = args.FirstOrDefault();
var options = Arguments.Parse(args.Skip(1));
switch (command)
{
    case "upload":
        await UploadBench.RunAsync(options.Long("bytes", 2L << 30));
        break;
    case "ingest":
        await IngestBench.RunAsync(options.Long("rows", 5_000_000), (int)options.Long("workers", 1),
            options.Long("chunk-bytes", 0) is > 0 and var chunkBytes ? chunkBytes : null, options.String("format", "csv"),
            (int)options.Long("row-group-rows", 100_000), options.String("worker-jobs", "upload"));
        break;
    case "statement":
        await StatementBench.RunAsync(options.Long("lines", 100_000));
        break;
    case "progress":
        await ProgressBench.RunAsync((int)options.Long("jobs", 50), (int)options.Long("clients", 200), (int)options.Long("rows", 50_000));
        break;
    case "read":
        await ReadBench.RunAsync(options.Long("transactions", 5_000_000), options.Long("accounts", 100_000), (int)options.Long("rate", 2000),
            (int)options.Long("seconds", 60), (int)options.Long("step-seconds", 20), options.Long("export-rows", 10_000_000),
            options.Long("export-only", 0) != 0, options.Long("explain", 0) != 0);
        break;
    case "chaos":
        return await ChaosRun.RunAsync(options.Double("minutes", 10), TimeSpan.FromSeconds(options.Long("grace", 300)),
            (int)options.Long("seed", Environment.TickCount));
    case "sync":
        return await SyncBench.RunAsync(options.Long("events", 3_000_000), (int)options.Long("page-size", 5000),
            (int)options.Long("requests-per-second", 10), options.String("window", "sliding"), (int)options.Long("workers", 2),
            (int)options.Long("parallelism", 16), options.Long("warm-up", 1) != 0,
            (int)options.Long("margin-ms", 5));
    default:
        Console.Error.WriteLine("usage: Ingestion.Bench upload --bytes N | ingest --rows N | statement --lines N | progress --jobs N --clients M | chaos --minutes N | sync --events N");
        return 2;
}

return 0;

namespace Ingestion.Bench
{
    internal sealed class Arguments(Dictionary<string, string> values)
    {
        public static Arguments Parse(IEnumerable<string> args)
        {
            var list = args.ToList();
            var values = new Dictionary<string, string>();
            for (var i = 0; i + 1 < list.Count; i += 2)
            {
                values[list[i].TrimStart('-')] = list[i + 1];
            }

            return new Arguments(values);
        }

        public long Long(string name, long fallback) =>
            values.TryGetValue(name, out var value) ? long.Parse(value, CultureInfo.InvariantCulture) : fallback;

        public double Double(string name, double fallback) =>
            values.TryGetValue(name, out var value) ? double.Parse(value, CultureInfo.InvariantCulture) : fallback;

        public string String(string name, string fallback) => values.GetValueOrDefault(name, fallback);
    }

    /// <summary>What both benchmarks need: the servers, a sandbox, files, and peak memory of a process.</summary>
    internal static class Bench
    {
        public static string Directory
        {
            get
            {
                var directory = Path.Combine(Repository.Root, ".data", "bench");
                System.IO.Directory.CreateDirectory(directory);
                return directory;
            }
        }

        /// <summary>Peak resident memory of a live process, from the kernel's high-water mark.</summary>
        public static double PeakRssMb(int pid)
        {
            var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
        }

        /// <summary>CPU seconds a process has used (user and system), from /proc.</summary>
        public static double CpuSeconds(int pid)
        {
            var fields = File.ReadAllText($"/proc/{pid}/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
        }

        public static string F(double value, int decimals = 2) => value.ToString("F" + decimals, CultureInfo.InvariantCulture);

        public static void Log(string message) => Console.Error.WriteLine($"[bench] {message}");

        public static async Task<double> TimeAsync(Func<Task> work)
        {
            var clock = Stopwatch.StartNew();
            await work();
            return clock.Elapsed.TotalSeconds;
        }

        /// <summary>Puts a local file into the sandbox's bucket, multipart, untimed.</summary>
        public static async Task PutFileAsync(Sandbox sandbox, string key, string path)
        {
            var store = new Platform.Storage.ObjectStore(sandbox.S3, Microsoft.Extensions.Options.Options.Create(
                new Platform.Storage.S3Options { Bucket = sandbox.Bucket, PartSizeBytes = 64 << 20 }));
            await using var source = File.OpenRead(path);
            await using var target = store.OpenWrite(key, "text/csv");
            await source.CopyToAsync(target, 1 << 20);
            await target.CompleteAsync(CancellationToken.None);
        }

        /// <summary>A plain HTTP PUT of the file to a presigned URL: what S3 itself takes, with no service in between.</summary>
        public static async Task RawPutAsync(IAmazonS3 s3, string bucket, string key, string path)
        {
            var url = await s3.GetPreSignedURLAsync(new GetPreSignedUrlRequest
            {
                BucketName = bucket,
                Key = key,
                Verb = HttpVerb.PUT,
                Expires = DateTime.UtcNow.AddHours(1),
                Protocol = Protocol.HTTP,
                ContentType = "text/csv",
            });
            using var http = new HttpClient { Timeout = TimeSpan.FromHours(1) };
            await using var file = File.OpenRead(path);
            using var content = new StreamContent(file, 1 << 20);
            content.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
            using var response = await http.PutAsync(url, content);
            response.EnsureSuccessStatusCode();
        }
    }
}
