using System.Text;
using Ingestion.Workers.Csv;

namespace Ingestion.Tests.Unit;

public sealed class Field_parsing
{
    [TestCase("2026-05-01T13:45:00Z", "2026-05-01T13:45:00.0000000Z")]
    [TestCase("2026-05-01 13:45", "2026-05-01T13:45:00.0000000Z")]
    [TestCase("2026-05-01T13:45:00+02:00", "2026-05-01T11:45:00.0000000Z")]
    [TestCase("2026-05-01T13:45:00-0130", "2026-05-01T15:15:00.0000000Z")]
    [TestCase("2026-05-01T13:45:00.123456Z", "2026-05-01T13:45:00.1234560Z")]
    [TestCase("2026-05-01T00:00:00.123456789+00", "2026-05-01T00:00:00.1234567Z")]
    [TestCase("2026-05-01", "2026-05-01T00:00:00.0000000Z")]
    public void Should_read_iso_8601_timestamps_as_utc(string text, string expected)
    {
        Assert.That(Utf8Fields.TryParseTimestamp(Encoding.UTF8.GetBytes(text), out var value), Is.True);
        Assert.That(value.ToString("O"), Is.EqualTo(expected));
        Assert.That(value.Kind, Is.EqualTo(DateTimeKind.Utc));
    }

    [TestCase("yesterday")]
    [TestCase("2026-02-30T10:00:00Z")]
    [TestCase("2026-05-01T24:00:00Z")]
    [TestCase("2026-05-01T13:45:00+2")]
    [TestCase("01/05/2026")]
    [TestCase("2026-05-01T13:45:00Zjunk")]
    public void Should_refuse_what_is_not_an_iso_timestamp(string text) =>
        Assert.That(Utf8Fields.TryParseTimestamp(Encoding.UTF8.GetBytes(text), out _), Is.False);

    [TestCase("12.50", true)]
    [TestCase("-0.01", true)]
    [TestCase("+3", true)]
    [TestCase("1e5", false)]
    [TestCase("1,000.00", false)]
    [TestCase(" 12", false)]
    [TestCase("", false)]
    public void Should_read_plain_decimals_only(string text, bool valid) =>
        Assert.That(Utf8Fields.TryParseDecimal(Encoding.UTF8.GetBytes(text), out _), Is.EqualTo(valid));

    [TestCase("42", 42L)]
    [TestCase("-7", -7L)]
    [TestCase("+7", 7L)]
    public void Should_read_integers(string text, long expected)
    {
        Assert.That(Utf8Fields.TryParseInt64(Encoding.UTF8.GetBytes(text), out var value), Is.True);
        Assert.That(value, Is.EqualTo(expected));
    }

    [TestCase("4.0")]
    [TestCase("+-4")]
    [TestCase("99999999999999999999")]
    [TestCase("")]
    public void Should_refuse_what_is_not_an_integer(string text) =>
        Assert.That(Utf8Fields.TryParseInt64(Encoding.UTF8.GetBytes(text), out _), Is.False);

    [TestCase("6f1c2d6e-1111-4c4c-9a9a-000000000001", true)]
    [TestCase("6f1c2d6e11114c4c9a9a000000000001", true)]
    [TestCase("not-a-uuid", false)]
    [TestCase("6f1c2d6e-1111-4c4c-9a9a-00000000000g", false)]
    public void Should_read_uuids(string text, bool valid) =>
        Assert.That(Utf8Fields.TryParseGuid(Encoding.UTF8.GetBytes(text), out _), Is.EqualTo(valid));

    [TestCase("TRUE", true, true)]
    [TestCase("f", true, false)]
    [TestCase("Yes", true, true)]
    [TestCase("0", true, false)]
    [TestCase("maybe", false, false)]
    [TestCase("truest", false, false)]
    public void Should_read_booleans(string text, bool valid, bool expected)
    {
        Assert.That(Utf8Fields.TryParseBoolean(Encoding.UTF8.GetBytes(text), out var value), Is.EqualTo(valid));
        Assert.That(value, Is.EqualTo(expected));
    }

    [TestCase("Zürich", 6)]
    [TestCase("Łódź", 4)]
    [TestCase("Αθήνα", 5)]
    [TestCase("😀x", 2)]
    public void Should_count_characters_as_postgres_does(string text, int characters) =>
        Assert.That(Utf8Fields.CountCharacters(Encoding.UTF8.GetBytes(text)), Is.EqualTo(characters));
}
