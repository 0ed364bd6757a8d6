using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Ingestion.Tests.Infrastructure;

namespace Ingestion.Tests.EndToEnd.Formats;

/// <summary>
/// Events exported as JSON Lines (seed 004): one object per line, the values nested (<c>$.payload.amount</c>), timestamps
/// as ISO 8601 strings, Unix seconds and Unix milliseconds in one file, a blank line here and there. The dataset declares
/// the format and the JSON paths once; the bad lines are rejects that name their line, column and reason.
/// </summary>
public sealed class When_a_partner_sends_json_lines
{
    private const int Events = 300;
    private static readonly DateTime Epoch = new(2026, 3, 1, 12, 0, 0, DateTimeKind.Utc);

    private readonly string _dataset = "events_" + Guid.NewGuid().ToString("N")[..8];
    private readonly TestCsv _ids = new();
    private HttpClient _acme = null!;
    private JsonNode _job = null!;
    private List<RejectRow> _rejects = null!;

    [OneTimeSetUp]
    public async Task RegisterAndLoadAsync()
    {
        _acme = TestRun.Shared.Client(Keys.Acme);
        await _acme.CreateDatasetAsync(new
        {
            name = _dataset,
            format = "jsonl",
            columns = new object[]
            {
                new { name = "id", type = "uuid" },
                new { name = "occurred_at", type = "timestamptz", source = "$.meta.at" },
                new { name = "amount", type = "numeric(12,2)", source = "$.payload.amount" },
                new { name = "currency", type = "varchar(3)", source = "$.payload.currency" },
                new { name = "first_sku", type = "text", source = "$.items[0].sku" },
                new { name = "tags", type = "text", source = "$.payload.tags" },
            },
            key = new[] { "id" },
        });

        var lines = new List<string>();
        for (var n = 1; n <= Events; n++)
        {
            lines.Add(Event(n));
        }

        // Line numbers below are the file's: bad lines replace events 5, 7, 9, 11, 13 and 15, and line 3 is blank.
        lines[2] = "   ";
        lines[4] = $$"""{"id":"{{Id(5)}}","meta":{"at":""";
        lines[6] = "[1,2,3]";
        lines[8] = $$$"""{"id":"{{{Id(9)}}}","meta":{"at":1772366400},"payload":{"amount":"twelve","currency":"EUR"}}""";
        lines[10] = """{"meta":{"at":1772366400},"payload":{"amount":1,"currency":"EUR"}}""";
        lines[12] = Event(13).Replace("SKU-13", "Z\u0001rich", StringComparison.Ordinal);
        lines[14] = Event(15).Replace("\"CHF\"", "\"\\uD800\"", StringComparison.Ordinal);
        var file = Encoding.UTF8.GetBytes(string.Join("\r\n", lines) + "\n");
        file[Array.IndexOf(file, (byte)1)] = 0xFC; // Zürich in Latin-1, as a partner's export may hold it.
        _job = await _acme.WaitForJobEndAsync(await _acme.StartUploadAsync(_dataset, file));
        Assert.That(_job["status"]!.GetValue<string>(), Is.EqualTo("completed"), _job.ToJsonString());
        _rejects = await Rejects.DownloadAsync(_job["rejects"]!["url"]!.GetValue<string>());
    }

    [OneTimeTearDown]
    public void Disconnect() => _acme.Dispose();

    [Test]
    public async Task Should_load_nested_fields_and_timestamps_of_every_kind_with_their_values()
    {
        var expected = Enumerable.Range(1, Events).Where(n => n is not (3 or 5 or 7 or 9 or 11 or 13 or 15)).Select(Row).Order(StringComparer.Ordinal).ToList();

        Assert.That(_job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(Events - 7));
        Assert.That(await RowsAsync(), Is.EqualTo(expected));
    }

    [Test]
    public void Should_reject_each_bad_line_naming_its_line_column_and_reason_with_the_line_itself()
    {
        Assert.That(_rejects.Select(r => (r.Line, r.Column, r.Reason)), Is.EqualTo(new[]
        {
            (5L, "", "is not a valid JSON object: Expected depth to be zero at the end of the JSON payload. There is an open JSON object or array that should be closed (at byte 59 of the line)"),
            (7L, "", "is a JSON array, not an object"),
            (9L, "amount", "is not a number: \"twelve\" (at $.payload.amount)"),
            (11L, "id", "is required but $.id is missing or null"),
            (13L, "", "is not valid UTF-8 (byte 0xFC at byte 166 of the line)"),
            (15L, "currency", "is not valid text: it holds half of a surrogate pair (an escape such as \\uD800 without its other half) (at $.payload.currency)"),
        }));
        Assert.That(Encoding.UTF8.GetString(_rejects[1].Record), Is.EqualTo("[1,2,3]"), "the raw line, without its line break");
    }

    [Test]
    public async Task Should_show_the_format_on_the_dataset_and_on_the_job()
    {
        var dataset = await _acme.GetJsonAsync($"/v1/datasets/{_dataset}");

        Assert.That(dataset["format"]!.GetValue<string>(), Is.EqualTo("jsonl"));
        Assert.That(_job["format"]!.GetValue<string>(), Is.EqualTo("jsonl"));
    }

    [Test]
    public async Task Should_load_a_gzip_compressed_file()
    {
        var gzip = new MemoryStream();
        using (var compressor = new GZipStream(gzip, CompressionLevel.Fastest, leaveOpen: true))
        {
            compressor.Write(Encoding.UTF8.GetBytes(string.Join("\n", Enumerable.Range(400, 50).Select(Event))));
        }

        var job = await _acme.WaitForJobEndAsync(await _acme.StartUploadAsync(_dataset, gzip.ToArray()));

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(50));
        Assert.That(await RowsAsync(400, 449), Is.EqualTo(Enumerable.Range(400, 50).Select(Row).Order(StringComparer.Ordinal).ToList()));
    }

    [TestCase(false, TestName = "Should_load_a_utf16_file_as_windows_powershell_writes_it_and_reject_a_lone_surrogate")]
    [TestCase(true, TestName = "Should_load_a_gzip_compressed_big_endian_utf16_file_and_reject_a_lone_surrogate")]
    public async Task Should_load_a_utf16_file_by_its_byte_order_mark(bool gzipped)
    {
        // Out-File in Windows PowerShell writes UTF-16 little-endian with its byte order mark and CRLF line ends.
        var utf16 = new UnicodeEncoding(bigEndian: gzipped, byteOrderMark: true);
        static string Sku(int n) => $"Zürich €ß 😀 東京 {n}";
        string Unicode(string text, int n) => text.Replace($"SKU-{n}\"", $"{Sku(n)}\"", StringComparison.Ordinal);
        var first = gzipped ? 1900 : 900; // each case its own events
        var text = new MemoryStream();
        text.Write(utf16.GetPreamble());
        for (var n = first; n < first + 40; n++)
        {
            var line = Unicode(Event(n), n);
            if (n == first + 11)
            {
                // Half of a surrogate pair where the SKU starts: no character of UTF-16, so the line is a reject.
                var at = line.IndexOf("Zürich", StringComparison.Ordinal);
                text.Write(utf16.GetBytes(line[..at]));
                text.Write(gzipped ? [0xD8, 0x3D] : [0x3D, 0xD8]);
                line = line[at..];
            }

            text.Write(utf16.GetBytes(line + "\r\n"));
        }

        var body = text.ToArray();
        if (gzipped)
        {
            var gzip = new MemoryStream();
            using (var compressor = new GZipStream(gzip, CompressionLevel.Fastest, leaveOpen: true))
            {
                compressor.Write(body);
            }

            body = gzip.ToArray();
        }

        var job = await _acme.WaitForJobEndAsync(await UploadAsync(body, "", gzipped ? "application/gzip" : "application/x-ndjson"));

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(39), job.ToJsonString());
        var rejects = await Rejects.DownloadAsync(job["rejects"]!["url"]!.GetValue<string>());
        var bad = Event(first + 11);
        Assert.That(rejects.Select(r => (r.Line, r.Reason)), Is.EqualTo(new[]
        {
            (12L, $"is not valid UTF-16: it holds a byte that is no character of it (character {bad.IndexOf($"SKU-{first + 11}", StringComparison.Ordinal) + 1} of the line)"),
        }));
        Assert.That(await RowsAsync(first, first + 39), Is.EqualTo(Enumerable.Range(first, 40).Where(n => n != first + 11)
            .Select(n => n % 5 == 0 ? Row(n) : Row(n).Replace($"SKU-{n}|", $"{Sku(n)}|", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ToList()));
    }

    [Test]
    public async Task Should_read_utf8_json_lines_as_utf8_whatever_encoding_the_datasets_csv_dialect_declares()
    {
        // A dataset that also takes CSV exports from Windows declares its dialect once; its JSON Lines stay UTF-8.
        var dataset = "events_latin1_" + Guid.NewGuid().ToString("N")[..8];
        await _acme.CreateDatasetAsync(new
        {
            name = dataset,
            format = "jsonl",
            dialect = new { encoding = "iso-8859-1" },
            columns = new object[] { new { name = "id", type = "uuid" }, new { name = "city", type = "text", source = "$.place.city" } },
            key = new[] { "id" },
        });
        var file = Encoding.UTF8.GetBytes($$$"""{"id":"{{{Id(3000)}}}","place":{"city":"Zürich €"}}""" + "\n");

        var job = await _acme.WaitForJobEndAsync(await _acme.StartUploadAsync(dataset, file));

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("completed"), job.ToJsonString());
        Assert.That(job["progress"]!["rowsLoaded"]!.GetValue<long>(), Is.EqualTo(1), job.ToJsonString());
        Assert.That(await TestRun.Shared.Sandbox.ScalarAsync<string>($"select city from tenant_acme.{dataset} where id = @id",
            ("id", _ids.Id(3000))), Is.EqualTo("Zürich €"));
    }

    [Test]
    public async Task Should_refuse_a_csv_declared_as_json_lines_saying_what_it_is_and_keep_it_under_its_format()
    {
        var job = await _acme.WaitForJobEndAsync(await UploadAsync("id,amount\n" + Id(500) + ",1\n", "?format=jsonl"));

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("failed"), job.ToJsonString());
        Assert.That(job["error"]!["code"]!.GetValue<string>(), Is.EqualTo("format_mismatch"));
        Assert.That(job["error"]!["message"]!.GetValue<string>(), Is.EqualTo(
            "The file is declared jsonl but is not: its first line does not start with '{' but with 'i', so it is no JSON object per line; most likely it is CSV: declare format=csv."));
        Assert.That(await TestRun.Shared.Sandbox.ObjectKeysAsync($"uploads/acme/{job["jobId"]!.GetValue<Guid>():N}"),
            Is.EqualTo(new[] { $"uploads/acme/{job["jobId"]!.GetValue<Guid>():N}.jsonl" }), "a failed job keeps its file for a retry");
    }

    [Test]
    public async Task Should_refuse_json_lines_declared_as_csv_even_compressed_saying_how_to_declare_it()
    {
        var gzip = new MemoryStream();
        using (var compressor = new GZipStream(gzip, CompressionLevel.Fastest, leaveOpen: true))
        {
            compressor.Write(Encoding.UTF8.GetBytes(Event(600) + "\n"));
        }

        var job = await _acme.WaitForJobEndAsync(await UploadAsync(gzip.ToArray(), "?format=csv", "application/gzip"));

        Assert.That(job["status"]!.GetValue<string>(), Is.EqualTo("failed"), job.ToJsonString());
        Assert.That(job["error"]!["message"]!.GetValue<string>(), Is.EqualTo(
            "The file is declared csv but is not: it starts with '{', so it is JSON (one object per line is JSON Lines); declare format=jsonl."));
        Assert.That(await TestRun.Shared.Sandbox.ObjectKeysAsync($"uploads/acme/{job["jobId"]!.GetValue<Guid>():N}"),
            Is.EqualTo(new[] { $"uploads/acme/{job["jobId"]!.GetValue<Guid>():N}.csv.gz" }), "the key names the format and the compression");
    }

    [Test]
    public async Task Should_refuse_text_declared_as_parquet_saying_what_it_is()
    {
        var job = await _acme.WaitForJobEndAsync(await UploadAsync(Event(700) + "\n", "?format=parquet"));

        Assert.That(job["error"]!["code"]!.GetValue<string>(), Is.EqualTo("format_mismatch"), job.ToJsonString());
        Assert.That(job["error"]!["message"]!.GetValue<string>(), Does.Contain("most likely JSON Lines; declare format=jsonl"));
    }

    [Test]
    public async Task Should_refuse_an_unknown_format_or_a_csv_option_for_json_lines_naming_the_field_and_keep_nothing()
    {
        var keysBefore = await TestRun.Shared.Sandbox.ObjectKeysAsync("uploads/acme/");
        using var unknown = await PostAsync(Event(800), "?format=xml");
        using var dialect = await PostAsync(Event(800), "?format=jsonl&delimiter=%3B");
        using var form = new MultipartFormDataContent();
        form.Add(new ByteArrayContent(Encoding.UTF8.GetBytes(Event(800))), "file", "events.jsonl");
        form.Add(new StringContent("jsonl"), "format");
        using var late = await _acme.PostAsync($"/v1/datasets/{_dataset}/uploads", form);

        Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await unknown.ProblemAsync())["errors"]!["format"]![0]!.GetValue<string>(), Is.EqualTo("must be 'csv', 'jsonl', 'parquet'."));
        Assert.That(dialect.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await dialect.ProblemAsync())["errors"]!["delimiter"]![0]!.GetValue<string>(), Does.Contain("CSV dialect option"));
        Assert.That(late.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await late.ProblemAsync())["detail"]!.GetValue<string>(), Does.Contain("'format' must come before the 'file' part"));
        Assert.That(await TestRun.Shared.Sandbox.ObjectKeysAsync("uploads/acme/"), Is.EquivalentTo(keysBefore), "nothing is kept");
    }

    [Test]
    public async Task Should_refuse_a_dataset_whose_format_or_json_paths_are_wrong_naming_each_field()
    {
        using var response = await _acme.PostAsJsonAsync("/v1/datasets", new
        {
            name = "bad_jsonl_" + Guid.NewGuid().ToString("N")[..8],
            format = "jsonl",
            columns = new object[]
            {
                new { name = "id", type = "uuid" },
                new { name = "amount", type = "numeric", source = "Booking Amount" },
                new { name = "at", type = "timestamptz", source = "$.meta..at" },
            },
        });
        using var unknown = await _acme.PostAsJsonAsync("/v1/datasets", new
        {
            name = "bad_format_" + Guid.NewGuid().ToString("N")[..8],
            format = "xlsx",
            columns = new object[] { new { name = "id", type = "uuid" } },
        });
        var problem = await response.ProblemAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), problem.ToJsonString());
        Assert.That(problem["errors"]!.AsObject().Select(e => e.Key), Is.EquivalentTo(new[] { "columns[1].source", "columns[2].source" }));
        Assert.That((await unknown.ProblemAsync())["errors"]!["format"]![0]!.GetValue<string>(), Is.EqualTo("must be 'csv', 'jsonl', 'parquet'."));
    }

    private string Id(int n) => _ids.Id(n).ToString();

    /// <summary>Event n: its time as ISO 8601, Unix seconds or Unix milliseconds in turn; every fifth without items.</summary>
    private string Event(int n)
    {
        var at = Epoch.AddMinutes(n);
        var seconds = (long)(at - DateTime.UnixEpoch).TotalSeconds;
        var time = (n % 3) switch
        {
            0 => $"\"{at:yyyy-MM-ddTHH:mm:ss}+01:00\"",
            1 => seconds.ToString(CultureInfo.InvariantCulture),
            _ => (seconds * 1000).ToString(CultureInfo.InvariantCulture),
        };
        var items = n % 5 == 0 ? "" : $$""","items":[{"sku":"SKU-{{n}}","qty":1},{"sku":"other"}]""";
        return $$"""{"id":"{{Id(n)}}","meta":{"at":{{time}},"source":"app"},"payload":{"amount":{{n}}.5,"currency":"CHF","tags":["a","b{{n}}"]}{{items}}}""";
    }

    /// <summary>Event n as the table should hold it; an ISO time with +01:00 is an hour earlier in UTC.</summary>
    private string Row(int n)
    {
        var at = Epoch.AddMinutes(n).AddHours(n % 3 == 0 ? -1 : 0);
        return string.Join("|", Id(n), at.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture),
            $"{n}.50", "CHF", n % 5 == 0 ? "∅" : $"SKU-{n}", $"[\"a\",\"b{n}\"]");
    }

    private async Task<HttpResponseMessage> PostAsync(string body, string query)
    {
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-ndjson");
        return await _acme.PostAsync($"/v1/datasets/{_dataset}/uploads{query}", content);
    }

    private Task<Guid> UploadAsync(string body, string query) => UploadAsync(Encoding.UTF8.GetBytes(body), query, "application/x-ndjson");

    private async Task<Guid> UploadAsync(byte[] body, string query, string contentType)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        using var response = await _acme.PostAsync($"/v1/datasets/{_dataset}/uploads{query}", content);
        var text = await response.Content.ReadAsStringAsync();
        Assert.That((int)response.StatusCode, Is.EqualTo(202), text);
        return JsonNode.Parse(text)!["jobId"]!.GetValue<Guid>();
    }

    private async Task<List<string>> RowsAsync(int from = 1, int to = Events) =>
        [.. (await TestRun.Shared.Sandbox.ScalarAsync<string[]>($"""
            select array_agg(concat_ws('|', id, (occurred_at at time zone 'UTC')::text, amount::text, currency,
                                       coalesce(first_sku, '∅'), tags) order by id::text collate "C")
            from tenant_acme.{_dataset} where id = any(@ids)
            """, ("ids", Enumerable.Range(from, to - from + 1).Select(_ids.Id).ToArray())) ?? [])];
}
