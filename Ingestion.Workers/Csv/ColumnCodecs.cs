using Ingestion.Platform.Datasets;
using Ingestion.Workers.Copy;
using Npgsql;
using NpgsqlTypes;

namespace Ingestion.Workers.Csv;

/// <summary>Typed values of one row, parsed before any of it is written.</summary>
internal sealed class RowValues(int columns)
{
    public readonly long[] Integers = new long[columns];
    public readonly decimal[] Decimals = new decimal[columns];
    public readonly Guid[] Guids = new Guid[columns];
    public readonly DateTime[] Timestamps = new DateTime[columns];
    public readonly DateOnly[] Dates = new DateOnly[columns];
    public readonly bool[] Nulls = new bool[columns];
}

/// <summary>
/// Parses one column's field from UTF-8 and writes it in PostgreSQL's binary COPY
/// format. A row is parsed whole first, so a bad field never leaves half a row in the COPY.
/// </summary>
internal abstract class ColumnCodec(ColumnType type)
{
    protected ColumnType Type { get; } = type;

    /// <summary>Null when the field is a valid value of the column, or why it is not.</summary>
    public abstract string? Parse(ReadOnlySpan<byte> field, RowValues values, int slot);

    /// <summary>Encoded straight into the COPY's buffer: an upload's hot path (see <see cref="BinaryCopyRows"/>).</summary>
    public abstract void Write(BinaryCopyRows rows, ReadOnlySpan<byte> field, RowValues values, int slot);

    /// <summary>Through Npgsql's importer: for a sync's pages, a few hundred rows at a time.</summary>
    public abstract void Write(NpgsqlBinaryImporter importer, ReadOnlySpan<byte> field, RowValues values, int slot);

    public static ColumnCodec For(ColumnType type) => type.Kind switch
    {
        ColumnKind.Text or ColumnKind.Char or ColumnKind.Varchar => new TextCodec(type),
        ColumnKind.Integer => new IntegerCodec(type, int.MinValue, int.MaxValue),
        ColumnKind.BigInt => new IntegerCodec(type, long.MinValue, long.MaxValue),
        ColumnKind.Numeric => new NumericCodec(type),
        ColumnKind.Boolean => new BooleanCodec(type),
        ColumnKind.Date => new DateCodec(type),
        ColumnKind.TimestampTz => new TimestampCodec(type),
        ColumnKind.Uuid => new UuidCodec(type),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type.Kind, "No codec for this column type."),
    };
}

/// <summary>
/// Text goes to PostgreSQL as the bytes it arrived in. The binary COPY format of text is
/// its UTF-8 bytes (as bytea's is), so no string is ever allocated; an upload writes them straight
/// from the read buffer.
/// The record's UTF-8 was validated before any field is parsed.
/// </summary>
internal sealed class TextCodec(ColumnType type) : ColumnCodec(type)
{
    private byte[] _scratch = new byte[4096];

    public override string? Parse(ReadOnlySpan<byte> field, RowValues values, int slot)
    {
        if (Type.MaxChars is { } max && field.Length > max)
        {
            var length = Utf8Fields.CountCharacters(field);
            if (length > max)
            {
                return $"is {length} characters long; {Type.ToSql()} holds at most {max}";
            }
        }

        return null;
    }

    public override void Write(BinaryCopyRows rows, ReadOnlySpan<byte> field, RowValues values, int slot)
    {
        rows.WriteBytes(field);
    }

    public override void Write(NpgsqlBinaryImporter importer, ReadOnlySpan<byte> field, RowValues values, int slot)
    {
        if (_scratch.Length < field.Length)
        {
            _scratch = new byte[Math.Max(field.Length, _scratch.Length * 2)];
        }

        field.CopyTo(_scratch);
        importer.Write(new ArraySegment<byte>(_scratch, 0, field.Length), NpgsqlDbType.Bytea);
    }
}

internal sealed class IntegerCodec(ColumnType type, long min, long max) : ColumnCodec(type)
{
    public override string? Parse(ReadOnlySpan<byte> field, RowValues values, int slot)
    {
        if (!Utf8Fields.TryParseInt64(field, out var value))
        {
            return Utf8Fields.IsWholeNumber(field)
                ? $"is out of range for {Type.ToSql()}: {Utf8Fields.Quote(field)}"
                : $"is not an integer: {Utf8Fields.Quote(field)}";
        }

        if (value < min || value > max)
        {
            return $"is out of range for {Type.ToSql()}: {Utf8Fields.Quote(field)}";
        }

        values.Integers[slot] = value;
        return null;
    }

    public override void Write(BinaryCopyRows rows, ReadOnlySpan<byte> field, RowValues values, int slot)
    {
        if (Type.Kind == ColumnKind.Integer)
        {
            rows.WriteInt32((int)values.Integers[slot]);
        }
        else
        {
            rows.WriteInt64(values.Integers[slot]);
        }
    }

    public override void Write(NpgsqlBinaryImporter importer, ReadOnlySpan<byte> field, RowValues values, int slot)
    {
        if (Type.Kind == ColumnKind.Integer)
        {
            importer.Write((int)values.Integers[slot], NpgsqlDbType.Integer);
        }
        else
        {
            importer.Write(values.Integers[slot], NpgsqlDbType.Bigint);
        }
    }
}

/// <summary>
/// numeric(p,s): a value with more decimals than s is refused rather than rounded, since
/// silently rounding amounts is worse than asking for a corrected file (<see cref="NumericFit"/>).
/// </summary>
internal sealed class NumericCodec(ColumnType type) : ColumnCodec(type)
{
    private readonly NumericFit _fit = new(type);

    public override string? Parse(ReadOnlySpan<byte> field, RowValues values, int slot)
    {
        if (!Utf8Fields.TryParseDecimal(field, out var value))
        {
            return $"is not a number: {Utf8Fields.Quote(field)}";
        }

        if (!_fit.Fits(value))
        {
            return _fit.Reason(value, Utf8Fields.Quote(field));
        }

        values.Decimals[slot] = value;
        return null;
    }

    public override void Write(BinaryCopyRows rows, ReadOnlySpan<byte> field, RowValues values, int slot) =>
        rows.WriteNumeric(values.Decimals[slot]);

    public override void Write(NpgsqlBinaryImporter importer, ReadOnlySpan<byte> field, RowValues values, int slot) =>
        importer.Write(values.Decimals[slot], NpgsqlDbType.Numeric);
}

/// <summary>
/// Whether an exact decimal fits numeric(p,s), for every format's reader (the text codecs, Parquet's cells): never
/// rounded, never more than p - s whole digits. <see cref="Fits"/> runs per value, so its cheap test comes first: only
/// a value with more places than the column's can lose any to rounding (and <c>decimal.Round</c> takes at most 28, so a
/// numeric(40,30) column's values, which have fewer, are never rounded). The reason, with the value as the caller shows
/// it, is written only for a reject.
/// </summary>
internal sealed class NumericFit(ColumnType type)
{
    private readonly decimal? _limit = type.Precision is { } p && p - (type.Scale ?? 0) is var digits and >= 0 and <= 28
        ? Pow10(digits)
        : null;

    public bool Fits(decimal value) => !LosesPlaces(value) && !(_limit is { } limit && Math.Abs(value) >= limit);

    /// <summary>Why a value that does not fit does not, naming it as <paramref name="shown"/>.</summary>
    public string Reason(decimal value, string shown) =>
        type.Scale is { } scale && LosesPlaces(value)
            ? $"has more than {scale} decimal place{(scale == 1 ? "" : "s")}: {shown}"
            : $"is too large for {type.ToSql()}: {shown}";

    private bool LosesPlaces(decimal value) => type.Scale is { } scale && value.Scale > scale && decimal.Round(value, scale) != value;

    private static decimal Pow10(int exponent)
    {
        var result = 1m;
        for (var i = 0; i < exponent; i++)
        {
            result *= 10;
        }

        return result;
    }
}

internal sealed class BooleanCodec(ColumnType type) : ColumnCodec(type)
{
    public override string? Parse(ReadOnlySpan<byte> field, RowValues values, int slot)
    {
        if (!Utf8Fields.TryParseBoolean(field, out var value))
        {
            return $"is not a boolean (true/false, t/f, yes/no, 1/0): {Utf8Fields.Quote(field)}";
        }

        values.Integers[slot] = value ? 1 : 0;
        return null;
    }

    public override void Write(BinaryCopyRows rows, ReadOnlySpan<byte> field, RowValues values, int slot) =>
        rows.WriteBoolean(values.Integers[slot] == 1);

    public override void Write(NpgsqlBinaryImporter importer, ReadOnlySpan<byte> field, RowValues values, int slot) =>
        importer.Write(values.Integers[slot] == 1, NpgsqlDbType.Boolean);
}

internal sealed class DateCodec(ColumnType type) : ColumnCodec(type)
{
    public override string? Parse(ReadOnlySpan<byte> field, RowValues values, int slot)
    {
        if (!Utf8Fields.TryParseDate(field, out var value))
        {
            return $"is not a date (YYYY-MM-DD): {Utf8Fields.Quote(field)}";
        }

        values.Dates[slot] = value;
        return null;
    }

    public override void Write(BinaryCopyRows rows, ReadOnlySpan<byte> field, RowValues values, int slot) =>
        rows.WriteDate(values.Dates[slot]);

    public override void Write(NpgsqlBinaryImporter importer, ReadOnlySpan<byte> field, RowValues values, int slot) =>
        importer.Write(values.Dates[slot], NpgsqlDbType.Date);
}

internal sealed class TimestampCodec(ColumnType type) : ColumnCodec(type)
{
    public override string? Parse(ReadOnlySpan<byte> field, RowValues values, int slot)
    {
        if (!Utf8Fields.TryParseTimestamp(field, out var value))
        {
            return $"is not a timestamp (ISO 8601, e.g. 2026-05-01T13:45:00Z): {Utf8Fields.Quote(field)}";
        }

        values.Timestamps[slot] = value;
        return null;
    }

    public override void Write(BinaryCopyRows rows, ReadOnlySpan<byte> field, RowValues values, int slot) =>
        rows.WriteTimestampTz(values.Timestamps[slot]);

    public override void Write(NpgsqlBinaryImporter importer, ReadOnlySpan<byte> field, RowValues values, int slot) =>
        importer.Write(values.Timestamps[slot], NpgsqlDbType.TimestampTz);
}

internal sealed class UuidCodec(ColumnType type) : ColumnCodec(type)
{
    public override string? Parse(ReadOnlySpan<byte> field, RowValues values, int slot)
    {
        if (!Utf8Fields.TryParseGuid(field, out var value))
        {
            return $"is not a UUID: {Utf8Fields.Quote(field)}";
        }

        values.Guids[slot] = value;
        return null;
    }

    public override void Write(BinaryCopyRows rows, ReadOnlySpan<byte> field, RowValues values, int slot) =>
        rows.WriteUuid(values.Guids[slot]);

    public override void Write(NpgsqlBinaryImporter importer, ReadOnlySpan<byte> field, RowValues values, int slot) =>
        importer.Write(values.Guids[slot], NpgsqlDbType.Uuid);
}
