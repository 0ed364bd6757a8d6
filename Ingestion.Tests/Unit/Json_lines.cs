using System.Text;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Sources;
using Ingestion.Workers.Copy;
using Ingestion.Workers.Csv;
using Ingestion.Workers.JsonLines;
using Ingestion.Workers.Syncs;

namespace Ingestion.Tests.Unit;

/// <summary>JSON Lines read line by line, resumed from any committed record, cut into chunks, and checked against a dataset.</summary>
public sealed class Json_lines
{
    private static readonly DatasetDefinition Dataset = new("events",
    [
        new DatasetColumn("id", ColumnType.Uuid, true),
        new DatasetColumn("amount", ColumnType.Numeric(10, 2), false, "$.payload.amount"),
        new DatasetColumn("at", ColumnType.TimestampTz, false, "$.meta.at"),
    ], ["id"], Format: UploadFormat.JsonLines);

    // A byte order mark, CRLF and LF line ends, blank lines (one of spaces), a line break escaped inside a string.
    private static readonly byte[] File =
    [
        0xEF, 0xBB, 0xBF,
        .. Encoding.UTF8.GetBytes(
            "{\"id\":\"8f1e9c62-0000-4000-8000-000000000001\",\"payload\":{\"amount\":1.5}}\r\n" +
            "\r\n" +
            "{\"id\":\"8f1e9c62-0000-4000-8000-000000000002\",\"meta\":{\"at\":1767607200}}\n" +
            "   \n" +
            "{\"id\":\"8f1e9c62-0000-4000-8000-000000000003\",\"note\":\"two\\nlines\"}\n" +
            "[1,2]\r\n" +
            "{\"id\":\"8f1e9c62-0000-4000-8000-000000000005\",\"meta\":{\"at\":\"2026-01-05T10:00:00Z\"}}"),
    ];

    [Test]
    public void Should_read_one_record_per_non_blank_line_with_its_line_number()
    {
        var records = ReadAll(new RecordPosition(0, 0));

        Assert.That(records.Select(r => r.Line), Is.EqualTo(new long[] { 1, 3, 5, 6, 7 }));
        Assert.That(records[0].Raw, Does.StartWith("{\"id\""), "the byte order mark is no part of the first record");
        Assert.That(records[3].Raw, Is.EqualTo("[1,2]"));
    }

    [Test]
    public void Should_resume_from_the_end_of_any_record_with_exactly_the_records_after_it()
    {
        var all = ReadAll(new RecordPosition(0, 0));

        for (var k = 0; k < all.Count; k++)
        {
            Assert.That(ReadAll(all[k].End), Is.EqualTo(all.Skip(k + 1).ToList()), $"resumed after the record on line {all[k].Line}");
        }
    }

    [Test]
    public async Task Should_read_the_same_records_when_cut_into_chunks_at_the_line_breaks_the_boundary_scan_finds()
    {
        var whole = ReadAll(new RecordPosition(0, 0));
        var chunks = new List<(long From, long FromLine, long To)>();
        // As the upload processor starts a scan at the object's start: its first line break ends line 1.
        using (var boundaries = new RecordBoundaries(new MemoryStream(File), 0, 1, (byte)'\n', null))
        {
            var (offset, line) = (0L, 0L);
            while (await boundaries.NextAsync(offset + 40, CancellationToken.None) is { } next)
            {
                chunks.Add((offset, line, next.Offset));
                (offset, line) = next;
            }

            chunks.Add((offset, line, File.Length));
        }

        var joined = chunks.SelectMany(c => ReadAll(new RecordPosition(c.From, c.FromLine), File[(int)c.From..(int)c.To])).ToList();

        Assert.That(chunks, Has.Count.GreaterThan(2));
        Assert.That(joined.Select(r => (r.Line, r.Raw)), Is.EqualTo(whole.Select(r => (r.Line, r.Raw))));
    }

    [Test]
    public void Should_check_each_record_naming_the_column_and_its_json_path()
    {
        using var records = Open(Encoding.UTF8.GetBytes(string.Join("\n",
            "{\"id\":\"8f1e9c62-0000-4000-8000-000000000001\",\"payload\":{\"amount\":\"lots\"}}",
            "{\"payload\":{\"amount\":1}}",
            "{\"id\":\"8f1e9c62-0000-4000-8000-000000000001\",\"meta\":{\"at\":\"yesterday\"}}",
            "{\"id\":1,}",
            "\"just a string\"",
            "{\"id\":\"8f1e9c62-0000-4000-8000-000000000001\",\"meta\":{\"at\":1767607200000},\"payload\":{\"amount\":-2}}")), new RecordPosition(0, 0));
        var problems = new List<RowProblem?>();
        while (records.Read())
        {
            problems.Add(records.Check());
        }

        Assert.That(problems.Take(5).Select(p => p?.Column), Is.EqualTo(new[] { "amount", "id", "at", null, null }));
        Assert.That(problems[0]!.Value.Reason, Does.EndWith("(at $.payload.amount)"));
        Assert.That(problems[1]!.Value.Reason, Is.EqualTo("is required but $.id is missing or null"));
        Assert.That(problems[2]!.Value.Reason, Does.EndWith("(at $.meta.at)"));
        Assert.That(problems[3]!.Value.Reason, Does.StartWith("is not a valid JSON object: ").And.EndWith("(at byte 9 of the line)"));
        Assert.That(problems[4]!.Value.Reason, Is.EqualTo("is a JSON string, not an object"));
        Assert.That(problems[5], Is.Null, "Unix milliseconds and a negative amount fit");
    }

    [Test]
    public void Should_reject_a_line_with_a_byte_that_is_not_utf8_or_an_unpaired_surrogate_escape_and_read_on()
    {
        using var records = Open([
            .. "{\"id\":\"8f1e9c62-0000-4000-8000-000000000001\",\"city\":\"Z"u8, 0xFC, .. "rich\"}\n"u8,
            .. "{\"id\":\"8f1e9c62-0000-4000-8000-000000000002\",\"meta\":{\"at\":\"\\uD800\"}}\n"u8,
            .. "{\"id\":\"\\uDC00\"}\n"u8,
            .. "{\"id\":\"8f1e9c62-0000-4000-8000-000000000004\",\"city\":\"Z\u00FCrich \\uD83D\\uDE00\"}\n"u8,
        ], new RecordPosition(0, 0));
        var problems = new List<(long Line, RowProblem? Problem)>();
        while (records.Read())
        {
            problems.Add((records.Line, records.Check()));
        }

        Assert.That(problems.Select(p => (p.Line, p.Problem?.Column, p.Problem?.Reason)), Is.EqualTo(new (long, string?, string?)[]
        {
            (1, null, "is not valid UTF-8 (byte 0xFC at byte 55 of the line)"),
            (2, "at", "is not valid text: it holds half of a surrogate pair (an escape such as \\uD800 without its other half) (at $.meta.at)"),
            (3, "id", "is not valid text: it holds half of a surrogate pair (an escape such as \\uD800 without its other half) (at $.id)"),
            (4, null, null),
        }), "a line in an unmapped field is rejected as a whole; a mapped value names its column; valid UTF-8 and a paired escape fit");
    }

    [Test]
    public void Should_stop_at_a_line_longer_than_the_limit_naming_its_line()
    {
        var longLine = "{\"id\":\"" + new string('x', 5000) + "\"}";
        using var records = Open(Encoding.UTF8.GetBytes("{\"id\":\"8f1e9c62-0000-4000-8000-000000000001\"}\n\n" + longLine + "\n"),
            new RecordPosition(0, 0), maxRecordBytes: 1024);

        Assert.That(records.Read(), Is.True);
        var tooLong = Assert.Throws<RecordTooLongException>(() => records.Read());
        Assert.That(tooLong!.Line, Is.EqualTo(3));
    }

    [TestCase("csv", new byte[] { 0x1F, 0x8B, 8, 0 }, "uploads/acme/{0}.csv.gz")]
    [TestCase("jsonl", new byte[] { 0x28, 0xB5, 0x2F, 0xFD }, "uploads/acme/{0}.jsonl.zst")]
    [TestCase("jsonl", new byte[] { (byte)'{' }, "uploads/acme/{0}.jsonl")]
    [TestCase("parquet", new byte[] { (byte)'P', (byte)'A', (byte)'R', (byte)'1' }, "uploads/acme/{0}.parquet")]
    public void Should_name_an_upload_by_its_format_and_its_compression(string format, byte[] head, string key)
    {
        var job = Guid.NewGuid();

        Assert.That(UploadFormat.KeyFor("acme", job, format, head), Is.EqualTo(string.Format(key, job.ToString("N"))));
    }

    [TestCase("csv", "{\"id\":1}\n", "format_mismatch")]
    [TestCase("csv", "\uFEFF  {\"id\":1}\n", "format_mismatch")]
    [TestCase("jsonl", "PAR1\u0015\u0004", "format_mismatch")]
    [TestCase("jsonl", "id,amount\n1,2\n", "format_mismatch")]
    [TestCase("parquet", "id,amount\n1,2\n", "format_mismatch")]
    [TestCase("jsonl", "\"id\",\"amount\"\n1,2\n", "format_mismatch")]
    [TestCase("jsonl", "name,amount\nx,2\n", "format_mismatch")]
    [TestCase("jsonl", "null_count\n3\n", "format_mismatch")]
    [TestCase("jsonl", "12,5\n", "format_mismatch")]
    [TestCase("jsonl", "\n  {\"id\":1}\n", null)]
    [TestCase("jsonl", "[1,2,3]\r\n{\"id\":1}\n", null)]
    [TestCase("jsonl", "\uFEFF\"x\"\n{\"id\":1}\n", null)]
    [TestCase("jsonl", "-12.5\nnull\n", null)]
    [TestCase("jsonl", "[\"a line longer than the head", null)]
    [TestCase("csv", "id,amount\n1,2\n", null)]
    [TestCase("parquet", "PAR1\u0015\u0004", null)]
    public void Should_tell_a_file_that_is_not_what_it_is_declared_as(string format, string head, string? code) =>
        Assert.That(FileSniffer.Check(Encoding.UTF8.GetBytes(head), format)?.Code, Is.EqualTo(code));

    [Test]
    public void Should_take_a_utf16_json_lines_file_by_its_byte_order_mark_and_tell_what_else_it_is()
    {
        // As Windows PowerShell writes it: UTF-16 with its byte order mark, which the NUL check alone reported as a NUL byte.
        foreach (var encoding in new[] { Encoding.Unicode, Encoding.BigEndianUnicode })
        {
            foreach (var text in new[] { "{\"id\":1}\r\n", "[1,2]\r\n", " \r\n" })
            {
                Assert.That(FileSniffer.Check([.. encoding.GetPreamble(), .. encoding.GetBytes(text)], "jsonl"), Is.Null, text);
            }
        }

        // A UTF-16 CSV file declared jsonl: told to declare csv.
        var csv = FileSniffer.Check([.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes("id,amount\r\n1,2\r\n")], "jsonl");
        Assert.That(csv?.Code, Is.EqualTo("format_mismatch"));
        Assert.That(csv?.Message, Does.Contain("it is UTF-16 text whose first line does not start with a JSON value, most likely CSV: declare format=csv"));

        // UTF-16 JSON Lines declared csv or parquet: told it is JSON Lines, not loaded as one column.
        foreach (var format in new[] { "csv", "parquet" })
        {
            var json = FileSniffer.Check([.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes("{\"id\":1}\r\n")], format);
            Assert.That(json?.Code, Is.EqualTo("format_mismatch"), format);
            Assert.That(json?.Message, Does.Contain("declare format=jsonl").And.Not.Contain("convert"), format);
        }

        // UTF-16 CSV declared parquet: told it is text, most likely CSV.
        Assert.That(FileSniffer.Check([.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes("id,amount\r\n")], "parquet")?.Message,
            Does.Contain("it is text, most likely CSV: declare format=csv"));
    }

    [Test]
    public void Should_take_a_column_from_its_json_path_its_top_level_field_or_its_name()
    {
        Assert.That(UploadFormat.JsonPathOf(new DatasetColumn("amount", ColumnType.Text, false, "$.payload.amount"), out _)!.Text,
            Is.EqualTo("$.payload.amount"));
        Assert.That(UploadFormat.JsonPathOf(new DatasetColumn("amount", ColumnType.Text, false, "total"), out _)!.Text, Is.EqualTo("$.total"));
        Assert.That(UploadFormat.JsonPathOf(new DatasetColumn("amount", ColumnType.Text, false), out _)!.Text, Is.EqualTo("$.amount"));
        Assert.That(UploadFormat.JsonPathOf(new DatasetColumn("amount", ColumnType.Text, false, "Booking Amount"), out var problem), Is.Null);
        Assert.That(problem, Does.Contain("neither a JSON path"));
    }

    private sealed record Read(long Line, string Raw, RecordPosition End);

    private static List<Read> ReadAll(RecordPosition from, byte[]? range = null)
    {
        using var records = Open(range ?? File[(int)from.Offset..], from);
        var read = new List<Read>();
        while (records.Read())
        {
            read.Add(new Read(records.Line, Encoding.UTF8.GetString(records.Raw), records.End));
        }

        return read;
    }

    private static JsonLineRecords Open(byte[] bytes, RecordPosition from, int maxRecordBytes = 1 << 20)
    {
        var paths = Dataset.Columns.Select(c => UploadFormat.JsonPathOf(c, out _)!).ToList();
        var mapper = new RecordMapper(Dataset,
            new SourceRecords("$", Dataset.Columns.Zip(paths).ToDictionary(c => c.First.Name, c => c.Second.Text)), null);
        return new JsonLineRecords(new MemoryStream(bytes), from, maxRecordBytes, mapper, Dataset.Columns.Select(c => c.Name).ToList(), paths);
    }
}
