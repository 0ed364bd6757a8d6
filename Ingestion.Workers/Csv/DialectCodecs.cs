using System.Globalization;
using System.Text;
using System.Text.Unicode;
using Ingestion.Platform.Datasets;
using Ingestion.Workers.Copy;
using Npgsql;
using NpgsqlTypes;

namespace Ingestion.Workers.Csv;

/// <summary>
/// Codecs for values a dialect writes differently from plain CSV: local number formats, declared date and timestamp
/// formats, Unix times, and a time zone for timestamps without an offset. Plain columns keep the plain codecs, so a
/// file in the default dialect takes exactly the path it took before dialects existed.
/// </summary>
internal static class DialectCodecs
{
    public static ColumnCodec For(DatasetColumn column, CsvDialect? dialect)
    {
        var type = column.Type;
        var zone = dialect?.Zone;
        return type.Kind switch
        {
            ColumnKind.Date when column.Format is { } format => new FormattedDateCodec(type, format),
            ColumnKind.TimestampTz when column.Format is CsvDialectRules.UnixSeconds or CsvDialectRules.UnixMilliseconds =>
                new UnixTimestampCodec(type, column.Format == CsvDialectRules.UnixMilliseconds),
            ColumnKind.TimestampTz when column.Format is { } format => new FormattedTimestampCodec(type, format, zone),
            ColumnKind.TimestampTz when zone is not null => new ZonedTimestampCodec(type, zone),
            ColumnKind.Integer or ColumnKind.BigInt or ColumnKind.Numeric when dialect is { LocalNumbers: true } =>
                new LocalNumberCodec(type, ColumnCodec.For(type), dialect.DecimalSeparator, dialect.ThousandsSeparator),
            _ => ColumnCodec.For(type),
        };
    }

    /// <summary>Decodes a short field for the BCL's date parsers; null when it is too long to be a date.</summary>
    public static int Decode(ReadOnlySpan<byte> field, Span<char> chars) =>
        field.Length <= chars.Length && Utf8.ToUtf16(field, chars, out _, out var written) == System.Buffers.OperationStatus.Done
            ? written
            : -1;
}

/// <summary>The values that mean NULL besides an empty field, as UTF-8.</summary>
internal sealed class NullMarkers
{
    private readonly byte[][] _markers;

    private NullMarkers(IEnumerable<string> markers) => _markers = markers.Select(Encoding.UTF8.GetBytes).ToArray();

    public static NullMarkers? Of(CsvDialect? dialect) =>
        dialect?.NullMarkers is { Count: > 0 } markers ? new NullMarkers(markers) : null;

    public bool Matches(ReadOnlySpan<byte> field)
    {
        foreach (var marker in _markers)
        {
            if (field.SequenceEqual(marker))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>
/// Numbers with a decimal comma or grouped thousands (<c>1.234.567,89</c>, <c>1'234.50</c>): rewritten to plain
/// <c>1234567.89</c> and parsed by the plain codec, so scale and range are judged exactly as for plain files. Groups
/// must be of three digits, so <c>1.23,4</c> is a reject rather than a guess.
/// </summary>
internal sealed class LocalNumberCodec(ColumnType type, ColumnCodec plain, char decimalSeparator, char? thousandsSeparator)
    : ColumnCodec(type)
{
    private readonly byte _decimal = (byte)decimalSeparator;
    private readonly byte? _thousands = thousandsSeparator is { } t ? (byte)t : null;
    private byte[] _plain = new byte[64];
    private int _length;

    private string Spelling => _thousands is { } t
        ? $"digits grouped by '{(char)t}' with '{(char)_decimal}' before decimals, e.g. 1{(char)t}234{(char)_decimal}56"
        : $"'{(char)_decimal}' before decimals, e.g. 1234{(char)_decimal}56";

    public override string? Parse(ReadOnlySpan<byte> field, RowValues values, int slot)
    {
        if (!Rewrite(field))
        {
            return $"is not a number written with {Spelling}: {Utf8Fields.Quote(field)}";
        }

        var plainField = _plain.AsSpan(0, _length);
        return plain.Parse(plainField, values, slot) is { } problem
            ? problem.Replace(Utf8Fields.Quote(plainField), Utf8Fields.Quote(field), StringComparison.Ordinal)
            : null;
    }

    public override void Write(BinaryCopyRows rows, ReadOnlySpan<byte> field, RowValues values, int slot) =>
        plain.Write(rows, _plain.AsSpan(0, _length), values, slot);

    public override void Write(NpgsqlBinaryImporter importer, ReadOnlySpan<byte> field, RowValues values, int slot) =>
        plain.Write(importer, _plain.AsSpan(0, _length), values, slot);

    private bool Rewrite(ReadOnlySpan<byte> field)
    {
        if (_plain.Length < field.Length)
        {
            _plain = new byte[field.Length * 2];
        }

        _length = 0;
        var i = 0;
        if (field.Length > 0 && field[0] is (byte)'+' or (byte)'-')
        {
            _plain[_length++] = field[i++];
        }

        // Integer part: digits, and with grouping a first group of 1-3 digits then groups of exactly 3.
        var digits = 0;
        var group = 0;
        var grouped = false;
        for (; i < field.Length && field[i] != _decimal; i++)
        {
            var b = field[i];
            if (b is >= (byte)'0' and <= (byte)'9')
            {
                _plain[_length++] = b;
                digits++;
                group++;
            }
            else if (b == _thousands && group is >= 1 and <= 3 && (!grouped || group == 3))
            {
                grouped = true;
                group = 0;
            }
            else
            {
                return false;
            }
        }

        if (digits == 0 || (grouped && group != 3))
        {
            return false;
        }

        if (i < field.Length)
        {
            _plain[_length++] = (byte)'.';
            i++;
            var decimals = 0;
            for (; i < field.Length; i++, decimals++)
            {
                if (field[i] is < (byte)'0' or > (byte)'9')
                {
                    return false;
                }

                _plain[_length++] = field[i];
            }

            if (decimals == 0)
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>Dates in a declared format such as <c>dd.MM.yyyy</c>.</summary>
internal sealed class FormattedDateCodec(ColumnType type, string format) : ColumnCodec(type)
{
    public override string? Parse(ReadOnlySpan<byte> field, RowValues values, int slot)
    {
        Span<char> chars = stackalloc char[64];
        var length = DialectCodecs.Decode(field, chars);
        if (length < 0 || !DateTime.TryParseExact(chars[..length], format, CultureInfo.InvariantCulture, DateTimeStyles.None,
                out var parsed) || parsed.TimeOfDay != TimeSpan.Zero)
        {
            return $"is not a date in the format {format}: {Utf8Fields.Quote(field)}";
        }

        values.Dates[slot] = DateOnly.FromDateTime(parsed);
        return null;
    }

    public override void Write(BinaryCopyRows rows, ReadOnlySpan<byte> field, RowValues values, int slot) =>
        rows.WriteDate(values.Dates[slot]);

    public override void Write(NpgsqlBinaryImporter importer, ReadOnlySpan<byte> field, RowValues values, int slot) =>
        importer.Write(values.Dates[slot], NpgsqlDbType.Date);
}

/// <summary>
/// Timestamps in a declared format such as <c>MM/dd/yyyy HH:mm</c>. A value with an offset (<c>zzz</c>, or <c>K</c> when
/// it is written) says where it is; otherwise the value is wall-clock time in the dialect's zone (UTC when it has none).
/// <c>K</c> also matches no offset at all, so whether a value has one is read from the parse, not from the format. A time
/// that the zone skips (clocks going forward) is a reject; one it repeats (clocks going back) is read as standard time.
/// </summary>
internal sealed class FormattedTimestampCodec(ColumnType type, string format, TimeZoneInfo? zone) : ColumnCodec(type)
{
    public override string? Parse(ReadOnlySpan<byte> field, RowValues values, int slot)
    {
        Span<char> chars = stackalloc char[64];
        var length = DialectCodecs.Decode(field, chars);

        // AdjustToUniversal turns a value with an offset into UTC (Kind Utc) by that offset, never through the host's
        // zone, and leaves one without an offset as it is written (Kind Unspecified).
        if (length < 0 || !DateTime.TryParseExact(chars[..length], format, CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal, out var parsed))
        {
            return Mismatch(field);
        }

        if (parsed.Kind == DateTimeKind.Utc)
        {
            values.Timestamps[slot] = parsed;
            return ZonedTimestampCodec.InRange(parsed) ? null : ZonedTimestampCodec.OutOfRange($"the format {format}", field);
        }

        return ZonedTimestampCodec.ToUtc(parsed, zone, $"the format {format}", field, values, slot);
    }

    public override void Write(BinaryCopyRows rows, ReadOnlySpan<byte> field, RowValues values, int slot) =>
        rows.WriteTimestampTz(values.Timestamps[slot]);

    public override void Write(NpgsqlBinaryImporter importer, ReadOnlySpan<byte> field, RowValues values, int slot) =>
        importer.Write(values.Timestamps[slot], NpgsqlDbType.TimestampTz);

    private string Mismatch(ReadOnlySpan<byte> field) =>
        $"is not a timestamp in the format {format}: {Utf8Fields.Quote(field)}";
}

/// <summary>ISO 8601 timestamps as plain files write them, but a value without an offset is in the dialect's zone, not UTC.</summary>
internal sealed class ZonedTimestampCodec(ColumnType type, TimeZoneInfo zone) : ColumnCodec(type)
{
    public override string? Parse(ReadOnlySpan<byte> field, RowValues values, int slot)
    {
        if (!Utf8Fields.TryParseTimestamp(field, out var utc))
        {
            return $"is not a timestamp (ISO 8601, e.g. 2026-05-01T13:45:00, in {zone.Id} unless it has an offset): {Utf8Fields.Quote(field)}";
        }

        if (HasOffset(field))
        {
            values.Timestamps[slot] = utc;
            return InRange(utc) ? null : OutOfRange("ISO 8601", field);
        }

        return ToUtc(DateTime.SpecifyKind(utc, DateTimeKind.Unspecified), zone, "ISO 8601", field, values, slot);
    }

    public override void Write(BinaryCopyRows rows, ReadOnlySpan<byte> field, RowValues values, int slot) =>
        rows.WriteTimestampTz(values.Timestamps[slot]);

    public override void Write(NpgsqlBinaryImporter importer, ReadOnlySpan<byte> field, RowValues values, int slot) =>
        importer.Write(values.Timestamps[slot], NpgsqlDbType.TimestampTz);

    /// <summary>
    /// Wall-clock time in <paramref name="zone"/> (UTC when null) as an instant, or why it is none; <paramref name="written"/>
    /// names how the value is written, for the reason.
    /// </summary>
    public static string? ToUtc(DateTime local, TimeZoneInfo? zone, string written, ReadOnlySpan<byte> field, RowValues values, int slot)
    {
        local = DateTime.SpecifyKind(local, DateTimeKind.Unspecified);
        if (zone is null)
        {
            values.Timestamps[slot] = DateTime.SpecifyKind(local, DateTimeKind.Utc);
            return InRange(values.Timestamps[slot]) ? null : OutOfRange(written, field);
        }

        if (zone.IsInvalidTime(local))
        {
            return $"is a time that does not exist in {zone.Id} (the clocks skip it): {Utf8Fields.Quote(field)}";
        }

        // ConvertTimeToUtc clamps an instant before year 1 or after year 9999 to DateTime.MinValue/MaxValue, which
        // InRange refuses.
        values.Timestamps[slot] = TimeZoneInfo.ConvertTimeToUtc(local, zone);
        return InRange(values.Timestamps[slot]) ? null : OutOfRange($"{written} in {zone.Id}", field);
    }

    /// <summary>
    /// Whether an instant loads as itself: Npgsql writes DateTime.MinValue and MaxValue as -infinity and infinity, and a
    /// conversion that leaves the DateTime range is clamped to them, so neither end is a value.
    /// </summary>
    public static bool InRange(DateTime utc) => utc > DateTime.MinValue && utc < DateTime.MaxValue;

    public static string OutOfRange(string written, ReadOnlySpan<byte> field) =>
        $"is out of range for a timestamp (0001-01-01 to 9999-12-31 UTC) in {written}: {Utf8Fields.Quote(field)}";

    /// <summary>An ISO 8601 value ends with <c>Z</c> or has a sign after its date part when it carries an offset.</summary>
    private static bool HasOffset(ReadOnlySpan<byte> field) =>
        field[^1] is (byte)'Z' or (byte)'z' || field[10..].IndexOfAny((byte)'+', (byte)'-') >= 0;
}

/// <summary>Whole seconds or milliseconds since 1970-01-01T00:00:00Z.</summary>
internal sealed class UnixTimestampCodec(ColumnType type, bool milliseconds) : ColumnCodec(type)
{
    private static readonly long MinSeconds = DateTimeOffset.MinValue.ToUnixTimeSeconds();
    private static readonly long MaxSeconds = DateTimeOffset.MaxValue.ToUnixTimeSeconds();

    public override string? Parse(ReadOnlySpan<byte> field, RowValues values, int slot)
    {
        var unit = milliseconds ? CsvDialectRules.UnixMilliseconds : CsvDialectRules.UnixSeconds;
        if (!Utf8Fields.TryParseInt64(field, out var value))
        {
            return $"is not a timestamp in the format {unit} (a whole number): {Utf8Fields.Quote(field)}";
        }

        var (min, max) = milliseconds ? (MinSeconds * 1000, MaxSeconds * 1000 + 999) : (MinSeconds, MaxSeconds);
        if (value < min || value > max)
        {
            return ZonedTimestampCodec.OutOfRange($"the format {unit}", field);
        }

        values.Timestamps[slot] = (milliseconds ? DateTimeOffset.FromUnixTimeMilliseconds(value) : DateTimeOffset.FromUnixTimeSeconds(value))
            .UtcDateTime;
        return ZonedTimestampCodec.InRange(values.Timestamps[slot]) ? null : ZonedTimestampCodec.OutOfRange($"the format {unit}", field);
    }

    public override void Write(BinaryCopyRows rows, ReadOnlySpan<byte> field, RowValues values, int slot) =>
        rows.WriteTimestampTz(values.Timestamps[slot]);

    public override void Write(NpgsqlBinaryImporter importer, ReadOnlySpan<byte> field, RowValues values, int slot) =>
        importer.Write(values.Timestamps[slot], NpgsqlDbType.TimestampTz);
}
