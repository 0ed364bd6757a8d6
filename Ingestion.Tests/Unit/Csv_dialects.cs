using System.Text;
using Ingestion.Platform.Datasets;
using Ingestion.Workers.Copy;
using Ingestion.Workers.Csv;

namespace Ingestion.Tests.Unit;

public sealed class Csv_dialects
{
    private static readonly DatasetColumn Amount = new("amount", ColumnType.Numeric(14, 2), false);

    /// <summary>As the dataset catalog stores definitions and the API writes views.</summary>
    private static readonly System.Text.Json.JsonSerializerOptions Web = new(System.Text.Json.JsonSerializerDefaults.Web);

    [TestCase("1.234.567,89", "1234567.89")]
    [TestCase("-0,5", "-0.5")]
    [TestCase("+12", "12")]
    [TestCase("999", "999")]
    public void Should_read_grouped_numbers_with_a_decimal_comma(string field, string expected)
    {
        var values = new RowValues(1);
        var codec = DialectCodecs.For(Amount, CsvDialect.Default with { DecimalSeparator = ',', ThousandsSeparator = '.' });

        Assert.That(codec.Parse(Encoding.UTF8.GetBytes(field), values, 0), Is.Null);
        Assert.That(values.Decimals[0], Is.EqualTo(decimal.Parse(expected, System.Globalization.CultureInfo.InvariantCulture)));
    }

    [TestCase("1.23,4")]
    [TestCase("1234.567,8")]
    [TestCase(".123,4")]
    [TestCase("1,")]
    [TestCase("1.234.56")]
    [TestCase("12 345")]
    public void Should_refuse_numbers_whose_grouping_is_not_in_threes(string field)
    {
        var codec = DialectCodecs.For(Amount, CsvDialect.Default with { DecimalSeparator = ',', ThousandsSeparator = '.' });

        Assert.That(codec.Parse(Encoding.UTF8.GetBytes(field), new RowValues(1), 0),
            Does.StartWith("is not a number written with digits grouped by '.' with ',' before decimals"));
    }

    [TestCase("1.5", null)]
    [TestCase("-0.000000000000000000000000001", null)]
    [TestCase("9999999999.5", null)]
    [TestCase("12345678901.5", "is too large for numeric(40,30): \"12345678901.5\"")]
    public void Should_check_a_numeric_column_with_more_places_than_a_decimal_holds_without_failing(string field, string? problem)
    {
        // numeric(40,30): PostgreSQL holds 30 places, a .NET decimal at most 28, and decimal.Round refuses more than 28.
        var values = new RowValues(1);
        var codec = DialectCodecs.For(new DatasetColumn("rate", ColumnType.Numeric(40, 30), false), CsvDialect.Default);

        Assert.That(codec.Parse(Encoding.UTF8.GetBytes(field), values, 0), Is.EqualTo(problem));
        if (problem is null)
        {
            Assert.That(values.Decimals[0], Is.EqualTo(decimal.Parse(field, System.Globalization.CultureInfo.InvariantCulture)));
        }
    }

    [TestCase("9.999", null)]
    [TestCase("-9.999", null)]
    [TestCase("9.9990000", null)]
    [TestCase("10.000", "is too large for numeric(4,3): \"10.000\"")]
    [TestCase("-10", "is too large for numeric(4,3): \"-10\"")]
    [TestCase("9.9995", "has more than 3 decimal places: \"9.9995\"")]
    public void Should_take_a_numeric_column_s_largest_value_and_refuse_the_next_as_postgresql_does(string field, string? problem)
    {
        // numeric(4,3) holds values below 10 in absolute value: 10.000 is PostgreSQL's "numeric field overflow".
        var codec = DialectCodecs.For(new DatasetColumn("rate", ColumnType.Numeric(4, 3), false), CsvDialect.Default);

        Assert.That(codec.Parse(Encoding.UTF8.GetBytes(field), new RowValues(1), 0), Is.EqualTo(problem));
    }

    [Test]
    public void Should_leave_plain_columns_to_the_plain_codecs_in_the_default_dialect()
    {
        Assert.That(DialectCodecs.For(Amount, CsvDialect.Default), Is.InstanceOf<NumericCodec>());
        Assert.That(DialectCodecs.For(Amount, null), Is.InstanceOf<NumericCodec>());
    }

    [TestCase("date", "dd.MM.yyyy", null)]
    [TestCase("timestamptz", "MM/dd/yyyy HH:mm", null)]
    [TestCase("timestamptz", "unix_seconds", null)]
    [TestCase("date", "unix_seconds", "'unix_seconds' is only for timestamptz columns.")]
    [TestCase("date", "MM.yyyy", "'MM.yyyy' does not name a whole date (day, month and year), as in dd.MM.yyyy.")]
    [TestCase("timestamptz", "dd.MM.yyyy", "does not name a date and an hour")]
    [TestCase("integer", "0.00", "is only for date and timestamptz columns")]
    public void Should_check_a_columns_format_at_registration(string type, string format, string? error)
    {
        Assert.That(ColumnType.TryParse(type, out var columnType, out _), Is.True);

        var problem = CsvDialectRules.CheckFormat(columnType, format);

        Assert.That(problem, error is null ? Is.Null : Does.Contain(error));
    }

    [TestCase("2026-03-01 14:30", "2026-03-01T13:30:00Z")]
    [TestCase("2026-03-01 14:30Z", "2026-03-01T14:30:00Z")]
    [TestCase("2026-03-01 14:30+05:00", "2026-03-01T09:30:00Z")]
    [TestCase("2026-07-01 14:30", "2026-07-01T12:30:00Z")]
    public void Should_read_a_value_without_the_offset_a_K_format_allows_in_the_dialects_zone(string field, string expected)
    {
        var values = new RowValues(1);
        var codec = DialectCodecs.For(new DatasetColumn("at", ColumnType.TimestampTz, false, Format: "yyyy-MM-dd HH:mmK"),
            CsvDialect.Default with { TimeZone = "Europe/Zurich" });

        Assert.That(codec.Parse(Encoding.UTF8.GetBytes(field), values, 0), Is.Null);
        Assert.That(values.Timestamps[0], Is.EqualTo(DateTime.Parse(expected, null, System.Globalization.DateTimeStyles.RoundtripKind)));
        Assert.That(values.Timestamps[0].Kind, Is.EqualTo(DateTimeKind.Utc));
    }

    [TestCase(null, "Europe/Zurich", "0001-01-01T00:30:00", "ISO 8601 in Europe/Zurich")]
    [TestCase("yyyy-MM-dd HH:mm", "America/New_York", "9999-12-31 23:30", "the format yyyy-MM-dd HH:mm in America/New_York")]
    [TestCase("yyyy-MM-dd HH:mmK", null, "0001-01-01 00:00", "the format yyyy-MM-dd HH:mmK")]
    [TestCase("unix_seconds", null, "-62135596800", "the format unix_seconds")]
    [TestCase("unix_milliseconds", null, "-62135596800000", "the format unix_milliseconds")]
    public void Should_reject_a_timestamp_that_would_clamp_to_an_end_of_the_range(string? format, string? zone, string field, string written)
    {
        var codec = DialectCodecs.For(new DatasetColumn("at", ColumnType.TimestampTz, false, Format: format),
            CsvDialect.Default with { TimeZone = zone });

        Assert.That(codec.Parse(Encoding.UTF8.GetBytes(field), new RowValues(1), 0),
            Is.EqualTo($"is out of range for a timestamp (0001-01-01 to 9999-12-31 UTC) in {written}: \"{field}\""));
    }

    [TestCase("unix_seconds", "-62135596799", "0001-01-01T00:00:01Z")]
    [TestCase("yyyy-MM-dd HH:mm:ssK", "0001-01-01 00:00:01Z", "0001-01-01T00:00:01Z")]
    public void Should_load_the_first_representable_instants(string format, string field, string expected)
    {
        var values = new RowValues(1);
        var codec = DialectCodecs.For(new DatasetColumn("at", ColumnType.TimestampTz, false, Format: format),
            CsvDialect.Default);

        Assert.That(codec.Parse(Encoding.UTF8.GetBytes(field), values, 0), Is.Null);
        Assert.That(values.Timestamps[0], Is.EqualTo(DateTime.Parse(expected, null, System.Globalization.DateTimeStyles.RoundtripKind)));
    }

    [Test]
    public void Should_apply_an_uploads_options_on_top_of_the_datasets_dialect()
    {
        var basis = CsvDialect.Default with { Delimiter = ';', DecimalSeparator = ',', NullMarkers = ["NULL"] };
        var errors = new List<string>();

        var dialect = CsvDialectRules.Apply(
            CsvDialectRules.FromStrings(new Dictionary<string, string> { ["delimiter"] = "tab", ["header"] = "false", ["fields"] = "amount, ,note" },
                (f, m) => errors.Add(f)),
            basis, [Amount, new DatasetColumn("note", ColumnType.Text, false)], "", (f, m) => errors.Add($"{f}: {m}"));

        Assert.That(errors, Is.Empty);
        Assert.That(dialect, Is.EqualTo(basis with { Delimiter = '\t', Header = false, Fields = dialect!.Fields }));
        Assert.That(dialect.Fields, Is.EqualTo(new[] { "amount", "", "note" }));
        Assert.That(dialect.NullMarkers, Is.EqualTo(new[] { "NULL" }));
    }

    [TestCase("utf-16")]
    [TestCase("UTF16")]
    [TestCase("utf-16le")]
    public void Should_refuse_utf16_declared_since_only_its_byte_order_mark_says_so(string encoding)
    {
        var errors = new Dictionary<string, string>();

        var dialect = CsvDialectRules.Apply(new CsvDialectRules.DialectRequest(Encoding: encoding), CsvDialect.Default, [Amount], "",
            (f, m) => errors[f] = m);

        Assert.That(dialect, Is.Null);
        Assert.That(errors, Is.EqualTo(new Dictionary<string, string>
        {
            ["encoding"] = "cannot be declared as UTF-16: a UTF-16 file is recognised by its byte order mark (FF FE or FE FF at its start), whatever the encoding says; send it with its mark, or as utf-8.",
        }));
    }

    [Test]
    public void Should_check_each_option_on_its_own_when_the_others_may_still_come()
    {
        var errors = new List<string>();
        var request = CsvDialectRules.FromStrings(new Dictionary<string, string> { ["header"] = "false", ["decimalSeparator"] = "," },
            (f, m) => errors.Add(f));

        var alone = CsvDialectRules.Apply(request, CsvDialect.Default with { ThousandsSeparator = ',' }, [Amount], "",
            (f, m) => errors.Add(f), combinations: false);
        Assert.That(errors, Is.Empty);
        Assert.That(alone, Is.Not.Null);

        CsvDialectRules.Apply(request, CsvDialect.Default with { ThousandsSeparator = ',' }, [Amount], "", (f, m) => errors.Add(f));
        Assert.That(errors, Is.EquivalentTo(new[] { "fields", "thousandsSeparator" }));
    }

    [Test]
    public void Should_store_and_show_only_what_the_dialect_declares()
    {
        var dialect = CsvDialect.Default with { TimeZone = "Europe/Zurich", DecimalSeparator = ',' };

        var json = System.Text.Json.JsonSerializer.SerializeToNode(dialect, Web)!.AsObject();

        Assert.That(json.Select(p => p.Key), Is.EquivalentTo(new[]
        {
            "delimiter", "quote", "escape", "header", "fields", "nullMarkers", "decimalSeparator", "thousandsSeparator", "timeZone", "encoding",
        }));
        Assert.That(System.Text.Json.JsonSerializer.Deserialize<CsvDialect>(json, Web), Is.EqualTo(dialect));
    }

    [Test]
    public void Should_name_every_option_that_is_wrong()
    {
        var errors = new Dictionary<string, string>();

        var dialect = CsvDialectRules.Apply(new CsvDialectRules.DialectRequest(Delimiter: ";", Quote: ";", Escape: "\\",
            Header: false, Fields: ["nope"], DecimalSeparator: ",", ThousandsSeparator: ","), CsvDialect.Default, [Amount], "dialect.",
            (f, m) => errors[f] = m);

        Assert.That(dialect, Is.Null);
        Assert.That(errors.Keys, Is.EquivalentTo(new[] { "dialect.quote", "dialect.escape", "dialect.fields", "dialect.thousandsSeparator" }));
        Assert.That(errors["dialect.escape"], Does.StartWith("cannot be combined with a quote"));
    }

    [Test]
    public void Should_read_fields_split_by_the_dialects_delimiter_and_treat_null_markers_as_null()
    {
        // A typed column: \N is no date, so the row passes only if the marker is read as NULL.
        var dataset = new DatasetDefinition("t", [Amount, new DatasetColumn("booked_on", ColumnType.Date, false, Source: "Booked")], []);
        var dialect = CsvDialect.Default with { Delimiter = '|', DecimalSeparator = ',', NullMarkers = [@"\N"] };
        using var records = new CsvRecords(new MemoryStream("Booked|amount\n\\N|1,5\n"u8.ToArray()), 0, 1, 1 << 20, dialect);
        Assert.That(records.Read(), Is.True);
        var (map, problem) = HeaderMap.For(dataset, dialect, Enumerable.Range(0, records.Reader.FieldCount).Select(records.Reader.GetString).ToList());
        Assert.That(problem, Is.Null);
        var converter = new RowConverter(map!, dialect);

        Assert.That(records.Read(), Is.True);
        Assert.That(converter.Check(records), Is.Null);
        Assert.That(map!.Columns.Select(c => (c.Column.Name, c.Field)), Is.EqualTo(new[] { ("amount", 1), ("booked_on", 0) }));
    }

    [Test]
    public void Should_refuse_a_record_longer_than_the_limit_even_below_the_reader_s_buffer()
    {
        // 100,000 bytes against a limit of 1,024, on line 4 (a quoted field spans lines 2-3): CsvHelper checks its limit only
        // where it grows its buffer, and lets this record through whole, below its 1 MiB buffer (it catches 2,000 bytes).
        var text = "id,note\n1,\"two\nlines\"\n2," + new string('x', 100_000) + "\n3,after\n";
        using var records = new CsvRecords(new MemoryStream(Encoding.UTF8.GetBytes(text)), 0, 1, 1024);

        Assert.That(records.Read(), Is.True, "the header");
        Assert.That(records.Read(), Is.True, "a record of two lines, under the limit");
        var tooLong = Assert.Throws<RecordTooLongException>(() => records.Read());
        Assert.That(tooLong!.Line, Is.EqualTo(4));
    }
}
