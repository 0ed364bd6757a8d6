using System.IO.Compression;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Formats;

/// <summary>
/// gzip and zstd uploads: stored compressed as sent, decompressed as they are read. The job counts the object's
/// (compressed) bytes, against which progress is measured, and the text's; a compressed file in another encoding is
/// decompressed, then converted, and a resume inside it (a key collision redoes a batch from its checkpoint) re-reads it
/// from the start to the checkpoint; broken compressed data fails the job saying so.
/// </summary>
public sealed class When_a_file_is_compressed
{
    private static readonly Encoding Windows1252 = CodePagesEncodingProvider.Instance.GetEncoding(1252)!;

    private readonly TestCsv _ids = new();
    private HttpClient _acme = null!;

    [OneTimeSetUp]
    public void Connect() => _acme = TestRun.Shared.Client(Keys.Acme);

    [OneTimeTearDown]
    public void Disconnect() => _acme.Dispose();

    private string Row(int n, string merchant) => $"{_ids.Id(n)},1,2026-03-01T10:00:00Z,1.00,EUR,{merchant},groceries,Row {n}";

    private byte[] Csv(int from, int to, string merchant = "Shop")
    {
        var text = new StringBuilder(TestCsv.Header).Append('\n');
        for (var n = from; n <= to; n++)
        {
            text.Append(Row(n, $"{merchant} {n}")).Append('\n');
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    [Test]
    public async Task Should_load_a_multi_member_gzip_file_and_count_both_sizes()
    {
        var csv = Csv(1, 300);
        // Two gzip members one after the other, as `cat a.gz b.gz` or a log shipper writes them: both are read.
        var half = Array.IndexOf(csv, (byte)'\n', csv.Length / 2) + 1;
        var gzip = Gzip(csv[..half]).Concat(Gzip(csv[half..])).ToArray();

        var job = await UploadAsync(gzip, "application/gzip");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        AssertCounts(job, rows: 300, objectBytes: gzip.Length, textBytes: csv.Length);
        Assert.That(await CountAsync(1, 300), Is.EqualTo(300));
        Assert.That(await MerchantsAsync(1, 150, 300), Is.EqualTo(new[] { "Shop 1", "Shop 150", "Shop 300" }));
    }

    [Test]
    public async Task Should_load_a_zstd_file_sent_as_csv_with_its_content_encoding()
    {
        var csv = Csv(1001, 1300);
        var zstd = new ZstdSharp.Compressor(3).Wrap(csv).ToArray();

        var job = await UploadAsync(zstd, "text/csv", contentEncoding: "zstd");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        AssertCounts(job, rows: 300, objectBytes: zstd.Length, textBytes: csv.Length);
        Assert.That(await CountAsync(1001, 1300), Is.EqualTo(300));
    }

    [Test]
    public async Task Should_decompress_then_convert_a_windows_1252_gzip_and_resume_inside_it_exactly()
    {
        // 1,100 rows in batches of 500; the key of line 1,051 is in the table already, so the third batch collides and is
        // redone from its checkpoint (line 1,001): the object is read and decompressed from its start, and skipped to there.
        await TestRun.Shared.Sandbox.ExecuteAsync(
            "insert into tenant_acme.transactions (transaction_id, account_id, occurred_at, amount, currency) values (@id, 7, now(), 1, 'CHF')",
            ("id", _ids.Id(3050)));
        var text = new StringBuilder(TestCsv.Header).Append("\r\n");
        for (var n = 2001; n <= 3100; n++)
        {
            text.Append(Row(n, $"Café Straße €{n}")).Append("\r\n");
        }

        var gzip = Gzip(Windows1252.GetBytes(text.ToString()));

        var job = await UploadAsync(gzip, "application/gzip", "?encoding=windows-1252");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(1099));
        Assert.That(job["progress"]!["uncompressedBytesRead"]!.GetValue<long>(), Is.EqualTo(Encoding.UTF8.GetByteCount(text.ToString()) - 2),
            "the text's bytes are counted as UTF-8, as its checkpoints are, to the end of the last record (before its CRLF)");
        var rejects = await Rejects.DownloadAsync(job["rejects"]!["url"]!.GetValue<string>());
        Assert.That(rejects.Select(r => (r.Line, r.Column)), Is.EqualTo(new[] { (1051L, "transaction_id") }));
        Assert.That(await MerchantsAsync(2001, 3000, 3001, 3100),
            Is.EqualTo(new[] { "Café Straße €2001", "Café Straße €3000", "Café Straße €3001", "Café Straße €3100" }));
        Assert.That(await CountAsync(2001, 3100, account: 1), Is.EqualTo(1099), "every row once, none twice");
    }

    [Test]
    public async Task Should_fail_a_truncated_gzip_saying_so_after_loading_what_came_before()
    {
        // 1,200 rows in batches of 500, cut short: the batches before the cut are loaded, and the job fails saying where.
        var gzip = Gzip(Csv(4001, 5200));
        var truncated = gzip[..(gzip.Length * 3 / 4)];

        var job = await UploadAsync(truncated, "application/gzip");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("failed"), job.ToJsonString());
        Assert.That(job["error"]!["code"]!.GetValue<string>(), Is.EqualTo("corrupt_file"));
        Assert.That(job["error"]!["message"]!.GetValue<string>(), Does.StartWith("The file's compressed data is corrupt or truncated"));
        var loaded = job["progress"]!["rowsLoaded"]!.GetValue<long>();
        Assert.That(loaded, Is.LessThan(1200), "a truncated file is not a success");
        Assert.That(await CountAsync(4001, 5200), Is.EqualTo(loaded), "what the job says is loaded is what is in the table");
        Assert.That(job["error"]!["message"]!.GetValue<string>(), Does.Contain(loaded == 0 ? "nothing was loaded" : "Rows up to that line are loaded"));
    }

    [Test]
    public async Task Should_fail_a_gzip_with_corrupt_data_before_loading_anything()
    {
        var gzip = Gzip(Csv(6001, 6100));
        for (var i = 20; i < 60; i++)
        {
            gzip[i] ^= 0x5A;
        }

        var job = await UploadAsync(gzip, "application/gzip");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("failed"), job.ToJsonString());
        Assert.That(job["error"]!["code"]!.GetValue<string>(), Is.EqualTo("corrupt_file"));
        Assert.That(job["error"]!["message"]!.GetValue<string>(), Does.StartWith("The file's compressed data is corrupt or truncated"));
        Assert.That(await CountAsync(6001, 6100), Is.Zero);
    }

    [TestCase("truncated", "the zstd data ends inside a frame: the file is truncated")]
    [TestCase("corrupt", "zstd: Data corruption detected")]
    public async Task Should_fail_a_broken_zstd_file_as_corrupt_not_retry_it(string broken, string says)
    {
        var zstd = new ZstdSharp.Compressor(3).Wrap(Csv(7001, 8200)).ToArray();
        if (broken == "truncated")
        {
            zstd = zstd[..(zstd.Length * 3 / 4)];
        }
        else
        {
            zstd[^1] ^= 0xFF;
        }

        var job = await UploadAsync(zstd, "text/csv", contentEncoding: "zstd");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("failed"), job.ToJsonString());
        Assert.That(job["error"]!["code"]!.GetValue<string>(), Is.EqualTo("corrupt_file"));
        Assert.That(job["error"]!["message"]!.GetValue<string>(), Does.StartWith("The file's compressed data is corrupt or truncated")
            .And.Contain(says));
        Assert.That(await CountAsync(7001, 8200), Is.EqualTo(job["progress"]!["rowsLoaded"]!.GetValue<long>()),
            "what the job says is loaded is what is in the table");
    }

    [Test]
    public async Task Should_refuse_a_content_encoding_it_cannot_read()
    {
        using var content = new ByteArrayContent("a\n"u8.ToArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        content.Headers.ContentEncoding.Add("br");
        using var response = await _acme.PostAsync("/v1/datasets/transactions/uploads", content);
        var problem = await response.ProblemAsync();

        Assert.That((int)response.StatusCode, Is.EqualTo(415));
        Assert.That(problem["detail"]!.GetValue<string>(), Does.Contain("Content-Encoding 'br'"));
    }

    internal static byte[] Gzip(byte[] bytes)
    {
        using var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest))
        {
            gzip.Write(bytes);
        }

        return compressed.ToArray();
    }

    /// <param name="textBytes">The decompressed file's length; the job counts its text to the end of its last record, which is
    /// the checkpoint's offset (the final line break ends no record of its own).</param>
    private static void AssertCounts(JsonNode job, long rows, long objectBytes, long textBytes)
    {
        var progress = job["progress"]!;
        Assert.That(progress["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(rows), job.ToJsonString());
        Assert.That(progress["rowsRejected"]!.GetValue<long>(), Is.Zero);
        Assert.That(progress["bytesTotal"]!.GetValue<long>(), Is.EqualTo(objectBytes), "the object is stored compressed, as sent");
        Assert.That(progress["bytesRead"]!.GetValue<long>(), Is.EqualTo(objectBytes), "progress counts the object's bytes");
        Assert.That(progress["uncompressedBytesRead"]!.GetValue<long>(), Is.EqualTo(textBytes - 1));
        Assert.That(objectBytes, Is.LessThan(textBytes));
    }

    private async Task<JsonNode> UploadAsync(byte[] bytes, string contentType, string query = "", string? contentEncoding = null)
    {
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        if (contentEncoding is not null)
        {
            content.Headers.ContentEncoding.Add(contentEncoding);
        }

        using var response = await _acme.PostAsync($"/v1/datasets/transactions/uploads{query}", content);
        var body = await response.Content.ReadAsStringAsync();
        Assert.That((int)response.StatusCode, Is.EqualTo(202), body);
        return await _acme.WaitForJobEndAsync(JsonNode.Parse(body)!["jobId"]!.GetValue<Guid>());
    }

    private async Task<long> CountAsync(int from, int to, long account = 1) =>
        await TestRun.Shared.Sandbox.ScalarAsync<long>(
            "select count(*) from tenant_acme.transactions where transaction_id = any(@ids) and account_id = @account",
            ("ids", Enumerable.Range(from, to - from + 1).Select(_ids.Id).ToArray()), ("account", account));

    private async Task<string[]> MerchantsAsync(params int[] ids) =>
        await TestRun.Shared.Sandbox.ScalarAsync<string[]>(
            "select array_agg(merchant order by description) from tenant_acme.transactions where transaction_id = any(@ids)",
            ("ids", ids.Select(_ids.Id).ToArray())) ?? [];
}
