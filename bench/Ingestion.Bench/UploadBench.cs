using System.Net.Http.Headers;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Bench;

/// <summary>
/// A generated file streamed through the API into S3, against the same file PUT straight
/// to the same S3 server by a plain HTTP client. Prints one line.
/// </summary>
internal static class UploadBench
{
    public static async Task RunAsync(long bytes)
    {
        var servers = await NativeServers.StartAsync();
        var path = CsvGenerator.OfSize(bytes);
        var size = new FileInfo(path).Length;
        await using var sandbox = await Sandbox.CreateAsync(servers, "bench_upload_" + Guid.NewGuid().ToString("N")[..6]);
        var settings = new Dictionary<string, string>(sandbox.Settings) { ["Uploads__MaxBytes"] = (size * 2).ToString(System.Globalization.CultureInfo.InvariantCulture) };
        await using var api = await HostProcess.StartAsync("Ingestion.Api", "bench-api", settings);

        var s3Pid = int.Parse(File.ReadAllText(Path.Combine(Repository.Root, ".data", "run", "s3.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Bench.Log($"raw PUT of {size:N0} bytes");
        var s3Cpu = Bench.CpuSeconds(s3Pid);
        var raw = await Bench.TimeAsync(() => Bench.RawPutAsync(sandbox.S3, sandbox.Bucket, "reference/raw.csv", path));
        Bench.Log($"raw PUT: {Bench.F(raw)} s, S3 server used {Bench.F(Bench.CpuSeconds(s3Pid) - s3Cpu)} CPU s; now through the API");
        s3Cpu = Bench.CpuSeconds(s3Pid);
        var apiCpu = Bench.CpuSeconds(api.Pid);
        var ours = await Bench.TimeAsync(async () =>
        {
            using var http = new HttpClient { BaseAddress = api.Url, Timeout = TimeSpan.FromHours(1) };
            http.DefaultRequestHeaders.Add("X-Api-Key", Keys.Acme);
            await using var file = File.OpenRead(path);
            using var content = new StreamContent(file, 1 << 20);
            content.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
            using var response = await http.PostAsync("/v1/datasets/transactions/uploads", content);
            if ((int)response.StatusCode != 202)
            {
                throw new InvalidOperationException($"upload answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
            }
        });
        var rss = Bench.PeakRssMb(api.Pid);
        Bench.Log($"through the API: S3 server used {Bench.F(Bench.CpuSeconds(s3Pid) - s3Cpu)} CPU s, the API {Bench.F(Bench.CpuSeconds(api.Pid) - apiCpu)} CPU s");

        var mib = size / 1048576.0;
        Console.WriteLine($"upload bytes={size} seconds={Bench.F(ours)} mb_per_s={Bench.F(mib / ours, 1)} api_peak_rss_mb={Bench.F(rss, 1)} ratio_vs_raw_put={Bench.F(raw / ours)}");
        Bench.Log($"reference: raw PUT {Bench.F(raw)} s ({Bench.F(mib / raw, 1)} MiB/s)");
    }
}
