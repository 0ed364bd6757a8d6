using System.Text;
using System.Text.Json;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Sources;
using Ingestion.Workers.Syncs;

namespace Ingestion.Tests.Unit;

/// <summary>JSON records coerced to a dataset's typed columns, or rejected with the column and the reason.</summary>
public sealed class Record_mapping
{
    private static readonly DatasetDefinition Dataset = new("events",
    [
        new DatasetColumn("id", ColumnType.Uuid, true),
        new DatasetColumn("occurred_at", ColumnType.TimestampTz, true),
        new DatasetColumn("value", ColumnType.Numeric(10, 2), false),
        new DatasetColumn("payload", ColumnType.Text, false),
    ], ["id"]);

    [TestCase("\"2026-01-05T10:00:00Z\"")]
    [TestCase("1767607200")]
    [TestCase("1767607200000")]
    [TestCase("\"1767607200\"")]
    public void Should_read_a_timestamp_as_iso_8601_or_unix_seconds_or_milliseconds(string timestamp)
    {
        var mapper = Mapper();

        Assert.That(mapper.Check(Record($$"""{"id":"8f1e9c62-0000-4000-8000-000000000001","ts":{{timestamp}}}""")), Is.Null);
        Assert.That(mapper.Mark, Is.EqualTo(new DateTime(2026, 1, 5, 10, 0, 0, DateTimeKind.Utc)));
    }

    [TestCase("""{"ts":"2026-01-05T10:00:00Z"}""", "id", "is required but $.id is missing or null")]
    [TestCase("""{"id":"not-a-uuid","ts":1767607200}""", "id", "is not a UUID")]
    [TestCase("""{"id":"8f1e9c62-0000-4000-8000-000000000001","ts":"yesterday"}""", "occurred_at", "is not a timestamp")]
    [TestCase("""{"id":"8f1e9c62-0000-4000-8000-000000000001","ts":1767607200,"value":1.234}""", "value", "has more than 2 decimal places")]
    [TestCase("""{"id":"8f1e9c62-0000-4000-8000-000000000001","ts":1767607200,"value":{"a":1}}""", "value", "is a JSON object, not a numeric(10,2)")]
    public void Should_reject_a_record_that_does_not_fit_with_the_column_and_the_reason(string json, string column, string reason)
    {
        var problem = Mapper().Check(Record(json));

        Assert.That(problem?.Column, Is.EqualTo(column));
        Assert.That(problem?.Reason, Does.StartWith(reason));
    }

    [TestCase("\"id\":\"8f1e9c62-0000-4000-8000-000000000001\",\"ts\":\"\\uD800\"", "occurred_at",
        "is not valid text: it holds half of a surrogate pair (an escape such as \\uD800 without its other half)")]
    [TestCase("\"id\":\"8f1e9c62-0000-4000-8000-000000000001\",\"ts\":1767607200,\"value\":\"1\\uDC00\"", "value",
        "is not valid text: it holds half of a surrogate pair (an escape such as \\uD800 without its other half)")]
    [TestCase("\"id\":\"8f1e9c62-0000-4000-8000-000000000001\",\"ts\":1767607200,\"user\":{\"city\":\"Z\u00FC\"}", "payload",
        "is not valid UTF-8")]
    public void Should_reject_a_value_that_is_no_valid_text_instead_of_failing_the_page(string fields, string column, string reason)
    {
        // As an upstream sends it: \u00FC here is the one Latin-1 byte 0xFC, not its UTF-8.
        var record = JsonDocument.Parse(Encoding.Latin1.GetBytes("{" + fields + "}")).RootElement.Clone();

        Assert.That(Mapper().Check(record), Is.EqualTo((column, reason)));
        Assert.That(RecordTimes.TryRead(record.GetProperty("ts"), out _), Is.EqualTo(column != "occurred_at"), "a time that is no text is no time");
    }

    [Test]
    public void Should_keep_an_object_in_a_text_column_as_its_json()
    {
        Assert.That(Mapper().Check(Record("""{"id":"8f1e9c62-0000-4000-8000-000000000001","ts":1767607200,"user":{"id":"u_1"}}""")), Is.Null);
    }

    private static RecordMapper Mapper() => new(Dataset,
        new SourceRecords("$.data", new Dictionary<string, string> { ["id"] = "$.id", ["occurred_at"] = "$.ts", ["value"] = "$.value", ["payload"] = "$.user" }),
        "occurred_at");

    private static JsonElement Record(string json) => JsonDocument.Parse(json).RootElement.Clone();
}
