using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Formats;

/// <summary>
/// Files from Windows and older systems: Windows-1252 and ISO-8859-1 when the upload declares them, UTF-16 by its byte
/// order mark. Their text lands as the right Unicode; a byte that is no character of the encoding rejects its row, never
/// a silent substitute; and a load that resumes inside such a file (here: a key collision makes it start the batch again
/// from its checkpoint) finds exactly the line it left.
/// </summary>
public sealed class When_a_file_is_not_utf8
{
    private static readonly Encoding Windows1252 = CodePagesEncodingProvider.Instance.GetEncoding(1252)!;

    private readonly TestCsv _ids = new();
    private HttpClient _acme = null!;

    [OneTimeSetUp]
    public void Connect() => _acme = TestRun.Shared.Client(Keys.Acme);

    [OneTimeTearDown]
    public void Disconnect() => _acme.Dispose();

    private string Row(int n, string merchant) => $"{_ids.Id(n)},1,2026-03-01T10:00:00Z,1.00,EUR,{merchant},groceries,Row {n}";

    [Test]
    public async Task Should_load_a_windows_1252_file_as_the_right_unicode_and_resume_inside_it_exactly()
    {
        // 1,100 rows in batches of 500; the key of line 1,051 is in the table already, so the third batch collides and
        // is redone from its checkpoint (line 1,001), which for a transcoded file means reading from the start and skipping.
        await TestRun.Shared.Sandbox.ExecuteAsync(
            "insert into tenant_acme.transactions (transaction_id, account_id, occurred_at, amount, currency) values (@id, 7, now(), 1, 'CHF')",
            ("id", _ids.Id(1050)));
        var text = new StringBuilder(TestCsv.Header).Append("\r\n");
        for (var n = 1; n <= 1100; n++)
        {
            text.Append(Row(n, $"Café Straße €{n}")).Append("\r\n");
        }

        var bytes = Windows1252.GetBytes(text.ToString());
        Assert.That(bytes, Does.Contain((byte)0x80), "€ is 0x80 in Windows-1252");

        var job = await UploadAsync(bytes, "?encoding=windows-1252");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(job["dialect"]!["encoding"]!.GetValue<string>(), Is.EqualTo("windows-1252"));
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(1099));
        AssertNoUncompressedSize(job);
        var rejects = await Rejects.DownloadAsync(job["rejects"]!["url"]!.GetValue<string>());
        Assert.That(rejects.Select(r => (r.Line, r.Column)), Is.EqualTo(new[] { (1051L, "transaction_id") }));
        var merchants = await TestRun.Shared.Sandbox.ScalarAsync<string[]>(
            "select array_agg(merchant order by description) from tenant_acme.transactions where transaction_id = any(@ids) and account_id = 1",
            ("ids", new[] { 1, 1000, 1001, 1049, 1051, 1100 }.Select(_ids.Id).ToArray()));
        Assert.That(merchants, Is.EquivalentTo(new[]
        {
            "Café Straße €1", "Café Straße €1000", "Café Straße €1001", "Café Straße €1049", "Café Straße €1051", "Café Straße €1100",
        }));
        Assert.That(await TestRun.Shared.Sandbox.ScalarAsync<long>(
            "select count(*) from tenant_acme.transactions where transaction_id = any(@ids) and account_id = 1",
            ("ids", Enumerable.Range(1, 1100).Select(_ids.Id).ToArray())), Is.EqualTo(1099), "every row once, none twice");
    }

    [Test]
    public async Task Should_reject_a_row_with_a_byte_windows_1252_does_not_define_and_load_the_others()
    {
        var bytes = Windows1252.GetBytes($"{TestCsv.Header}\n{Row(2001, "Crème")}\n")
            .Concat(Windows1252.GetBytes(Row(2002, "Bad")))
            .Concat(new byte[] { 0x81, (byte)'\n' })
            .Concat(Windows1252.GetBytes($"{Row(2003, "Fußweg")}\n"))
            .ToArray();

        var job = await UploadAsync(bytes, "?encoding=windows-1252");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        var rejects = await Rejects.DownloadAsync(job["rejects"]!["url"]!.GetValue<string>());
        Assert.That(rejects.Select(r => (r.Line, r.Reason)), Is.EqualTo(new[]
        {
            (3L, $"is not valid Windows-1252: it holds a byte that is no character of it (character {Row(2002, "Bad").Length + 1} of the record)"),
        }));
        Assert.That(await MerchantsAsync(2001, 2002, 2003), Is.EqualTo(new[] { "Crème", "Fußweg" }));
    }

    [Test]
    public async Task Should_load_an_iso_8859_1_file_declared_in_a_form_field_and_reject_a_windows_euro_sign_in_it()
    {
        using var form = new MultipartFormDataContent();
        form.Add(new StringContent("iso-8859-1"), "encoding");
        var file = new ByteArrayContent(Encoding.Latin1.GetBytes($"{TestCsv.Header}\n{Row(3001, "Zürich Bäckerei ÿ")}\n")
            .Concat(Windows1252.GetBytes($"{Row(3002, "Kiosk €")}\n"))
            .ToArray());
        file.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        form.Add(file, "file", "latin1.csv");
        using var response = await _acme.PostAsync("/v1/datasets/transactions/uploads", form);
        var body = await response.Content.ReadAsStringAsync();
        Assert.That((int)response.StatusCode, Is.EqualTo(202), body);

        var job = await _acme.WaitForJobEndAsync(JsonNode.Parse(body)!["jobId"]!.GetValue<Guid>());

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        var rejects = await Rejects.DownloadAsync(job["rejects"]!["url"]!.GetValue<string>());
        Assert.That(rejects.Select(r => (r.Line, r.Reason)), Is.EqualTo(new[]
        {
            (3L, $"is not valid ISO-8859-1: it holds a byte that is no character of it (character {Row(3002, "Kiosk €").IndexOf('€') + 1} of the record); " +
                "bytes 0x80-0x9F are Windows-1252 characters such as €, so declare encoding=windows-1252 if Windows wrote the file"),
        }));
        Assert.That(await MerchantsAsync(3001, 3002), Is.EqualTo(new[] { "Zürich Bäckerei ÿ" }));
    }

    [Test]
    public async Task Should_read_big_endian_utf16_by_its_mark_and_reject_a_lone_surrogate()
    {
        var utf16 = new UnicodeEncoding(bigEndian: true, byteOrderMark: true);
        var bytes = utf16.GetPreamble()
            .Concat(utf16.GetBytes($"{TestCsv.Header}\n{Row(4001, "Αθήνα 😀")}\n{Row(4002, "half")}"))
            .Concat(new byte[] { 0xD8, 0x3D })
            .Concat(utf16.GetBytes($"\n{Row(4003, "東京")}\n"))
            .ToArray();

        var job = await UploadAsync(bytes, "");

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        var rejects = await Rejects.DownloadAsync(job["rejects"]!["url"]!.GetValue<string>());
        Assert.That(rejects.Select(r => (r.Line, r.Reason)), Is.EqualTo(new[]
        {
            (3L, $"is not valid UTF-16: it holds a byte that is no character of it (character {Row(4002, "half").Length + 1} of the record)"),
        }));
        Assert.That(await MerchantsAsync(4001, 4002, 4003), Is.EqualTo(new[] { "Αθήνα 😀", "東京" }));
        AssertNoUncompressedSize(job);
    }

    [Test]
    public async Task Should_count_a_utf16_files_progress_in_its_own_bytes_while_it_loads()
    {
        // 4,000 rows of about 2 KB in UTF-16 (8 MB, more than twice what the reader holds ahead), 8 batches of 500 at 600 ms
        // each in slices of 2 s, watched live. Each progress event's bytesRead is the object's bytes read: at least what its
        // loaded rows fill (counted in the UTF-8 text, half as long, it would be half of that), at most that and what the
        // reader holds ahead, never an uncompressed size.
        var dataset = await Progress.SlowDataset.CreateAsync(_acme, "acme", millisecondsPerBatch: 600, withNote: true);
        const int rows = 4_000;
        var note = new string('x', 1_000);
        var text = new StringBuilder("entry,note\n");
        for (var n = 100_000; n < 100_000 + rows; n++)
        {
            text.Append(n).Append(',').Append(note).Append('\n');
        }

        var utf16 = new UnicodeEncoding(bigEndian: false, byteOrderMark: true);
        var bytes = utf16.GetPreamble().Concat(utf16.GetBytes(text.ToString())).ToArray();
        var jobId = await _acme.StartUploadAsync(dataset, bytes);
        await using var stream = await EventSourceClient.OpenAsync(_acme, $"/v1/jobs/{jobId}/stream");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var events = new List<ServerEvent>();
        var flipped = false;
        while (await stream.NextAsync(timeout.Token) is { } next)
        {
            events.Add(next);
            if (!flipped && next.Name == "progress" && next.Data["progress"]!["rowsLoaded"]!.GetValue<long>() > 0)
            {
                // As a worker before migration 0036 would have left it: the next slice's worker marks it converted again.
                await TestRun.Shared.Sandbox.ExecuteAsync(
                    "update ingestion.upload_checkpoints set converted = false where job_id = @id", ("id", jobId));
                flipped = true;
            }

            if (next.Status is "completed" or "failed" or "cancelled")
            {
                break;
            }
        }

        var log = string.Join("\n", events.Select(e => $"{e.Name} {e.Data["progress"]?.ToJsonString()}"));
        Assert.That(events[^1].Status, Is.EqualTo("completed"), log);
        AssertNoUncompressedSize(events[^1].Data);
        var header = utf16.GetPreamble().Length + utf16.GetByteCount("entry,note\n");
        var row = utf16.GetByteCount($"100000,{note}\n");
        // What the reader holds ahead of the last committed row: CsvHelper's buffer (1 MiB of UTF-8 text, 2 MiB of this
        // UTF-16) and the converter's 64 KiB.
        const int ahead = (2 << 20) + (64 << 10) + 16_384;
        var progress = events.Where(e => e.Name == "progress").Select(e => e.Data["progress"]!)
            .Select(p => (Rows: p["rowsLoaded"]!.GetValue<long>(), Read: p["bytesRead"]!.GetValue<long>()))
            .Where(p => p.Rows is > 0 and < rows)
            .ToList();
        Assert.That(progress, Has.Count.GreaterThanOrEqualTo(3), "progress arrives while the rows load: " + log);
        Assert.That(progress.Where(p => p.Read < header + p.Rows * row || p.Read > header + p.Rows * row + ahead), Is.Empty,
            $"{bytes.Length:N0} bytes, {row} a row: " + string.Join(", ", progress.Select(p => $"{p.Rows:N0} rows at {p.Read:N0} bytes")));
    }

    /// <summary>A converted file that is not compressed has no uncompressed size to show.</summary>
    private static void AssertNoUncompressedSize(JsonNode job) =>
        Assert.That(job["progress"]!["uncompressedBytesRead"], Is.Null, "the file is not compressed: " + job["progress"]!.ToJsonString());

    [Test]
    public async Task Should_refuse_an_encoding_it_does_not_read()
    {
        using var content = new ByteArrayContent("a\n"u8.ToArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        using var response = await _acme.PostAsync("/v1/datasets/transactions/uploads?encoding=ebcdic", content);
        var problem = await response.ProblemAsync();

        Assert.That((int)response.StatusCode, Is.EqualTo(400));
        Assert.That(problem["errors"]!["encoding"]![0]!.GetValue<string>(), Does.StartWith("must be utf-8, windows-1252 or iso-8859-1"));
    }

    private async Task<JsonNode> UploadAsync(byte[] bytes, string query)
    {
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        using var response = await _acme.PostAsync($"/v1/datasets/transactions/uploads{query}", content);
        var body = await response.Content.ReadAsStringAsync();
        Assert.That((int)response.StatusCode, Is.EqualTo(202), body);
        return await _acme.WaitForJobEndAsync(JsonNode.Parse(body)!["jobId"]!.GetValue<Guid>());
    }

    private async Task<string[]> MerchantsAsync(params int[] ids) =>
        await TestRun.Shared.Sandbox.ScalarAsync<string[]>(
            "select array_agg(merchant order by description) from tenant_acme.transactions where transaction_id = any(@ids)",
            ("ids", ids.Select(_ids.Id).ToArray())) ?? [];
}
