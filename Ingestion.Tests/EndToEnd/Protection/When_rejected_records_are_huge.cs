using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Protection;

/// <summary>
/// A crafted file whose every record is 1 MiB and rejected. A worker that kept rejected records
/// whole until their batch commits would hold them all (a batch takes up to 10,000 rejects); it
/// keeps each one up to a byte cap instead, so its peak memory stays far below the 512 MB a
/// worker is given, and the rejects file says how long each record was.
/// The file is generated while it is sent, never held. <c>make bench-rejects</c> runs the full
/// size the issue names (10,000 records, 10 GiB) through <c>INGESTION_HUGE_REJECTS</c>.
/// </summary>
public sealed class When_rejected_records_are_huge
{
    private const int RecordBytes = 1 << 20;
    private const int GoodEvery = 100;
    private const long PeakLimitBytes = 512L << 20;
    private static readonly int Records = int.TryParse(Environment.GetEnvironmentVariable("INGESTION_HUGE_REJECTS"),
        CultureInfo.InvariantCulture, out var n) ? n : 800;

    private readonly string _dataset = "wide_" + Guid.NewGuid().ToString("N")[..8];
    private Deployment _stack = null!;
    private HttpClient _acme = null!;
    private JsonNode _job = null!;
    private long _peakBytes;

    [OneTimeSetUp]
    public async Task LoadAsync()
    {
        // Its worker's peak is a measurement (make bench-rejects): the worker as built, without the suite's tiered compilation.
        _stack = await Deployment.StartAsync(TestRun.Servers, "hugerejects", new Dictionary<string, string> { ["DOTNET_TieredCompilation"] = "0" });
        _acme = _stack.Client(Keys.Acme);
        _acme.Timeout = TimeSpan.FromMinutes(30);
        (await _acme.PostAsJsonAsync("/v1/datasets", new
        {
            name = _dataset,
            columns = new[] { new { name = "id", type = "integer", required = true }, new { name = "note", type = "text", required = false } },
        })).EnsureSuccessStatusCode();

        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/datasets/{_dataset}/uploads") { Content = new HugeRejectsFile(Records) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/csv");
        using var response = await _acme.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), body);
        var jobId = JsonNode.Parse(body)!["jobId"]!.GetValue<Guid>();

        _job = await _acme.WaitForJobEndAsync(jobId, seconds: 60 + Records / 5);
        _peakBytes = PeakResidentBytes(_stack.Workers[0].Pid);
        TestContext.Progress.WriteLine(
            $"worker_peak_rss_mb={_peakBytes >> 20} records={Records} record_bytes={RecordBytes} file_mb={HugeRejectsFile.Length(Records) >> 20}");
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _acme.Dispose();
        await _stack.DisposeAsync();
    }

    [Test]
    public async Task Should_complete_with_every_good_row_loaded()
    {
        Assert.That(_job["status"]!.GetValue<string>(), Is.EqualTo("completed"), _job.ToJsonString());
        var good = Records / GoodEvery;
        Assert.That(await _stack.Sandbox.ScalarAsync<long>($"select count(*) from tenant_acme.{_dataset}"), Is.EqualTo(good));
        Assert.That(_job["progress"]!["rowsRejected"]!.GetValue<long>(), Is.EqualTo(Records));
    }

    [Test]
    public void Should_keep_the_worker_peak_memory_under_512_MB() =>
        Assert.That(_peakBytes, Is.GreaterThan(0).And.LessThan(PeakLimitBytes),
            $"VmHWM of the worker: {_peakBytes >> 20} MB after {Records:N0} rejected records of {RecordBytes:N0} bytes");

    [Test]
    public async Task Should_keep_each_rejected_record_up_to_the_cap_and_say_how_long_it_was()
    {
        var rejects = await Rejects.DownloadAsync(_job["rejects"]!["url"]!.GetValue<string>());

        Assert.That(rejects, Has.Count.EqualTo(Records));
        Assert.That(rejects.Select(r => r.Line), Is.EqualTo(HugeRejectsFile.RejectedLines(Records)));
        var expected = Encoding.UTF8.GetBytes(new string('a', 4096) + $"…[truncated: {RecordBytes} bytes]");
        var differing = rejects.Where(r => !r.Record.AsSpan().SequenceEqual(expected)).ToList();
        Assert.That(differing, Is.Empty,
            $"every record is its first 4,096 bytes and the marker; {differing.Count} are not, the first of them {differing.FirstOrDefault()?.Record.Length} bytes long");
        Assert.That(rejects.Select(r => r.Reason), Is.All.EqualTo("has 1 field; the header has 2"));
    }

    /// <summary>The high-water mark of the process's resident memory, as Linux counts it.</summary>
    private static long PeakResidentBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").Single(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>
    /// <c>id,note</c>, then records of 1 MiB of 'a' without a comma (one field: rejected), and a
    /// good row after every hundredth. Written from one reused buffer as the request is sent.
    /// </summary>
    private sealed class HugeRejectsFile(int records) : HttpContent
    {
        private static readonly byte[] Header = "id,note\n"u8.ToArray();

        public static long Length(int records) =>
            Header.Length + (long)records * (RecordBytes + 1) + Enumerable.Range(1, records / GoodEvery).Sum(i => GoodRow(i).Length);

        /// <summary>Line 1 is the header; a good row follows every hundredth reject.</summary>
        public static IEnumerable<long> RejectedLines(int records)
        {
            long line = 1;
            for (var i = 1; i <= records; i++)
            {
                yield return ++line;
                if (i % GoodEvery == 0)
                {
                    line++;
                }
            }
        }

        private static byte[] GoodRow(int i) => Encoding.ASCII.GetBytes($"{i},fine\n");

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            var record = new byte[RecordBytes + 1];
            Array.Fill(record, (byte)'a');
            record[^1] = (byte)'\n';
            await stream.WriteAsync(Header);
            for (var i = 1; i <= records; i++)
            {
                await stream.WriteAsync(record);
                if (i % GoodEvery == 0)
                {
                    await stream.WriteAsync(GoodRow(i / GoodEvery));
                }
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = Length(records);
            return true;
        }
    }
}
