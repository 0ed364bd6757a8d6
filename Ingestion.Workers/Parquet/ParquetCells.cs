using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Ingestion.Platform.Datasets;
using Ingestion.Workers.Copy;
using Ingestion.Workers.Csv;
using Parquet;
using Parquet.Schema;

namespace Ingestion.Workers.Parquet;

/// <summary>
/// One mapped column of a row group: the Parquet column chunk's values, read whole into a typed buffer (reused from one
/// row group to the next), converted row by row into the dataset column's typed slot and written to the binary COPY.
/// Typed values go straight across (an INT64 to a bigint, a DECIMAL to a numeric, a TIMESTAMP to a timestamptz): no
/// string is made of a number or a date. A string column feeding a typed one is parsed by the CSV codecs, with the
/// column's declared format.
/// </summary>
internal abstract class ParquetCell(DatasetColumn column, DataField field)
{
    public DatasetColumn Column { get; } = column;

    public DataField Field { get; } = field;

    /// <summary>Reads the column chunk of <paramref name="group"/>: its first <paramref name="rows"/> values.</summary>
    public abstract Task ReadAsync(ParquetRowGroupReader group, int rows, CancellationToken cancellationToken);

    /// <summary>Lets go of the values the last <see cref="ReadAsync"/> read that are objects (strings); typed ones stay, reused.</summary>
    public abstract void Release();

    public abstract bool IsNull(int row);

    /// <summary>
    /// What reading <paramref name="rows"/> rows of this column allocates, from the footer alone: the typed buffers, whose
    /// size follows the row count, not the column chunk's bytes (a dictionary or run-length encoded column of a million
    /// equal values is a few bytes in the file and a million slots decoded). <paramref name="encodedBytes"/> is the column
    /// chunk's uncompressed size.
    /// </summary>
    public abstract long DecodedBytes(long rows, long encodedBytes);

    /// <summary>
    /// The part of <see cref="DecodedBytes"/> that is objects of their own, new for every row group (strings), rather than
    /// buffers reused from one group to the next: the garbage a row group leaves when the next one is read.
    /// </summary>
    public virtual long ObjectBytes(long rows, long encodedBytes) => 0;

    /// <summary>Null when the row's value fits the column (into <paramref name="values"/>), or why it does not.</summary>
    public abstract string? Parse(int row, RowValues values, int slot);

    /// <summary>Writes the value <see cref="Parse"/> accepted last.</summary>
    public virtual void Write(BinaryCopyRows rows, RowValues values, int slot)
    {
        switch (Column.Type.Kind)
        {
            case ColumnKind.Integer:
                rows.WriteInt32((int)values.Integers[slot]);
                break;
            case ColumnKind.BigInt:
                rows.WriteInt64(values.Integers[slot]);
                break;
            case ColumnKind.Numeric:
                rows.WriteNumeric(values.Decimals[slot]);
                break;
            case ColumnKind.Boolean:
                rows.WriteBoolean(values.Integers[slot] == 1);
                break;
            case ColumnKind.Date:
                rows.WriteDate(values.Dates[slot]);
                break;
            case ColumnKind.TimestampTz:
                rows.WriteTimestampTz(values.Timestamps[slot]);
                break;
            case ColumnKind.Uuid:
                rows.WriteUuid(values.Guids[slot]);
                break;
            default:
                throw new InvalidOperationException($"A {Field.ClrType.Name} value is not written to {Column.Type.ToSql()}.");
        }
    }

    /// <summary>The row's value in a rejected record (JSON).</summary>
    public abstract void Describe(int row, Utf8JsonWriter json);

    /// <summary>
    /// The cell that converts <paramref name="field"/> into <paramref name="column"/>, or null when its type cannot be
    /// (a float into a numeric, a boolean into a date…): the caller fails the job naming both types.
    /// </summary>
    public static ParquetCell? For(DatasetColumn column, DataField field, CsvDialect dialect)
    {
        var kind = column.Type.Kind;
        var clr = field.ClrType;
        if (clr == typeof(ReadOnlyMemory<char>) || clr == typeof(string))
        {
            return new StringCell(column, field, DialectCodecs.For(column, dialect));
        }

        if (kind is ColumnKind.Text or ColumnKind.Char or ColumnKind.Varchar)
        {
            return null; // only text becomes text: a number or a date has no one way to be written
        }

        return clr switch
        {
            _ when clr == typeof(sbyte) => Integer<sbyte>(column, field),
            _ when clr == typeof(byte) => Integer<byte>(column, field),
            _ when clr == typeof(short) => Integer<short>(column, field),
            _ when clr == typeof(ushort) => Integer<ushort>(column, field),
            _ when clr == typeof(int) => Integer<int>(column, field),
            _ when clr == typeof(uint) => Integer<uint>(column, field),
            _ when clr == typeof(long) => Integer<long>(column, field),
            _ when clr == typeof(ulong) => Integer<ulong>(column, field),
            _ when clr == typeof(decimal) && kind is ColumnKind.Numeric or ColumnKind.Integer or ColumnKind.BigInt =>
                new DecimalCell(column, field),
            _ when clr == typeof(bool) && kind == ColumnKind.Boolean => new BooleanCell(column, field),
            _ when clr == typeof(DateOnly) && kind == ColumnKind.Date => new DateCell(column, field),
            _ when clr == typeof(DateTime) && kind == ColumnKind.TimestampTz => new TimestampCell(column, field, dialect.Zone),
            _ when clr == typeof(Guid) && kind == ColumnKind.Uuid => new UuidCell(column, field),
            _ => null,
        };
    }

    private static IntegerCell<T>? Integer<T>(DatasetColumn column, DataField field) where T : struct, IBinaryInteger<T> =>
        column.Type.Kind is ColumnKind.Integer or ColumnKind.BigInt or ColumnKind.Numeric ? new IntegerCell<T>(column, field) : null;

    /// <summary>How a Parquet column is typed, as a person who wrote the file would recognise it.</summary>
    public static string Describe(DataField field) => field switch
    {
        DecimalDataField d => $"DECIMAL({d.Precision},{d.Scale})",
        DateTimeDataField { ClrType: var t } d when t == typeof(DateTime) =>
            $"TIMESTAMP({d.Unit.ToString().ToUpperInvariant()}{(d.IsAdjustedToUTC ? ", UTC" : ", local")})",
        _ when field.ClrType == typeof(ReadOnlyMemory<char>) || field.ClrType == typeof(string) => "STRING",
        _ when field.ClrType == typeof(DateOnly) => "DATE",
        _ when field.ClrType == typeof(Guid) => "UUID",
        _ when field.ClrType == typeof(byte[]) || field.ClrType == typeof(ReadOnlyMemory<byte>) => "BINARY",
        _ => field.ClrType.Name switch
        {
            "SByte" => "INT8",
            "Byte" => "UINT8",
            "Int16" => "INT16",
            "UInt16" => "UINT16",
            "Int32" => "INT32",
            "UInt32" => "UINT32",
            "Int64" => "INT64",
            "UInt64" => "UINT64",
            "Single" => "FLOAT",
            "Double" => "DOUBLE",
            "Boolean" => "BOOLEAN",
            "TimeSpan" or "TimeOnly" => "TIME",
            var name => name.ToUpperInvariant(),
        },
    };

    /// <summary>Whether an exact decimal fits numeric(p,s): never rounded (as the CSV codec), never wider than p digits.</summary>
    protected string? FitNumeric(decimal value, string written)
    {
        var type = Column.Type;
        if (type.Scale is { } scale && decimal.Round(value, scale) != value)
        {
            return $"has more than {scale} decimal place{(scale == 1 ? "" : "s")}: {written}";
        }

        if (type.Precision is { } p && p - (type.Scale ?? 0) <= 28 && Math.Abs(value) >= Pow10(p - (type.Scale ?? 0)))
        {
            return $"is too large for {type.ToSql()}: {written}";
        }

        return null;
    }

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

/// <summary>
/// A column read into typed buffers of its own, reused from one row group to the next: its values, densely (a null takes
/// no slot), and for an optional column each row's definition level, turned in place into the row's slot in the values
/// (-1: null). Read through Parquet.Net's raw read, which fills these buffers and rents nothing for the values: its
/// nullable read rents an array of the values from the shared array pool and gives it back uncleared, so for a string
/// column the pool kept the strings of past row groups reachable, for good (measured on the bench's 100,000-row groups:
/// generation 2 grew from 12 to 47 MB over ten groups, even with a full collection after each; read raw, it stays at 6 MB).
/// A required column has no levels to read.
/// </summary>
internal abstract class ParquetCell<T>(DatasetColumn column, DataField field) : ParquetCell(column, field) where T : struct
{
    private T[] _values = [];
    private int[] _slots = [];
    private bool _optional;

    public override async Task ReadAsync(ParquetRowGroupReader group, int rows, CancellationToken cancellationToken)
    {
        _optional = Field.MaxDefinitionLevel > 0; // known once the reader has the schema: a cell is made from the field alone
        if (_values.Length < rows)
        {
            _values = new T[rows];
        }

        if (_optional && _slots.Length < rows)
        {
            _slots = new int[rows];
        }

        // Not `? … : null`, which converts the null to an empty buffer (a null array) rather than to no buffer.
        var levels = _optional ? _slots.AsMemory(0, rows) : (Memory<int>?)null;
        await group.ReadRawAsync(Field, _values.AsMemory(0, rows), levels, null, cancellationToken);
        if (_optional)
        {
            var defined = Field.MaxDefinitionLevel;
            var next = 0;
            for (var row = 0; row < rows; row++)
            {
                _slots[row] = _slots[row] == defined ? next++ : -1;
            }
        }
    }

    public override void Release()
    {
        if (RuntimeHelpers.IsReferenceOrContainsReferences<T>())
        {
            Array.Clear(_values);
        }
    }

    public override bool IsNull(int row) => _optional && _slots[row] < 0;

    /// <summary>A value's slot for every row, and an optional column's definition level (turned into the row's slot).</summary>
    public override long DecodedBytes(long rows, long encodedBytes) =>
        rows * (Unsafe.SizeOf<T>() + (Field.MaxDefinitionLevel > 0 ? sizeof(int) : 0));

    /// <summary>The row's value; only asked of a row that is not null.</summary>
    protected T Value(int row) => _values[_optional ? _slots[row] : row];

    public override void Describe(int row, Utf8JsonWriter json)
    {
        if (IsNull(row))
        {
            json.WriteNullValue();
        }
        else
        {
            json.WriteStringValue(Format(Value(row)));
        }
    }

    protected virtual string Format(T value) => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "";
}

/// <summary>Any integer width, signed or not, into integer, bigint or numeric: out of range is a reject, never wrapped.</summary>
internal sealed class IntegerCell<T>(DatasetColumn column, DataField field) : ParquetCell<T>(column, field)
    where T : struct, IBinaryInteger<T>
{
    private readonly Int128 _min = column.Type.Kind == ColumnKind.Integer ? int.MinValue : long.MinValue;
    private readonly Int128 _max = column.Type.Kind == ColumnKind.Integer ? int.MaxValue : long.MaxValue;

    public override string? Parse(int row, RowValues values, int slot)
    {
        var value = Int128.CreateTruncating(Value(row));
        if (Column.Type.Kind == ColumnKind.Numeric)
        {
            values.Decimals[slot] = (decimal)value;
            return FitNumeric(values.Decimals[slot], value.ToString(CultureInfo.InvariantCulture));
        }

        if (value < _min || value > _max)
        {
            return $"is out of range for {Column.Type.ToSql()}: {value}";
        }

        values.Integers[slot] = (long)value;
        return null;
    }
}

/// <summary>DECIMAL(p,s) into numeric (scale and precision checked, never rounded), or a whole one into an integer column.</summary>
internal sealed class DecimalCell(DatasetColumn column, DataField field) : ParquetCell<decimal>(column, field)
{
    public override string? Parse(int row, RowValues values, int slot)
    {
        var value = Value(row);
        if (Column.Type.Kind == ColumnKind.Numeric)
        {
            values.Decimals[slot] = value;
            return FitNumeric(value, Format(value));
        }

        if (decimal.Truncate(value) != value)
        {
            return $"is not a whole number, which {Column.Type.ToSql()} needs: {Format(value)}";
        }

        var max = Column.Type.Kind == ColumnKind.Integer ? int.MaxValue : long.MaxValue;
        var min = Column.Type.Kind == ColumnKind.Integer ? int.MinValue : long.MinValue;
        if (value < min || value > max)
        {
            return $"is out of range for {Column.Type.ToSql()}: {Format(value)}";
        }

        values.Integers[slot] = (long)value;
        return null;
    }
}

internal sealed class BooleanCell(DatasetColumn column, DataField field) : ParquetCell<bool>(column, field)
{
    public override string? Parse(int row, RowValues values, int slot)
    {
        values.Integers[slot] = Value(row) ? 1 : 0;
        return null;
    }

    protected override string Format(bool value) => value ? "true" : "false";
}

internal sealed class DateCell(DatasetColumn column, DataField field) : ParquetCell<DateOnly>(column, field)
{
    public override string? Parse(int row, RowValues values, int slot)
    {
        values.Dates[slot] = Value(row);
        return null;
    }

    protected override string Format(DateOnly value) => value.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}

/// <summary>
/// A TIMESTAMP (milliseconds, microseconds or nanoseconds; or a legacy INT96) into timestamptz. One adjusted to UTC is
/// the instant it says; one that is not (a wall-clock time) is in the dataset's declared time zone, or UTC. Nanoseconds
/// are cut to PostgreSQL's microseconds.
/// </summary>
internal sealed class TimestampCell(DatasetColumn column, DataField field, TimeZoneInfo? zone) : ParquetCell<DateTime>(column, field)
{
    private readonly bool _utc = field is not DateTimeDataField { IsAdjustedToUTC: false };

    public override string? Parse(int row, RowValues values, int slot)
    {
        var value = Value(row);
        if (_utc || zone is null)
        {
            values.Timestamps[slot] = DateTime.SpecifyKind(value, DateTimeKind.Utc);
            return ZonedTimestampCodec.InRange(values.Timestamps[slot]) ? null : OutOfRange(value);
        }

        var local = DateTime.SpecifyKind(value, DateTimeKind.Unspecified);
        if (zone.IsInvalidTime(local))
        {
            return $"is a time that does not exist in {zone.Id} (the clocks skip it): {Format(value)}";
        }

        values.Timestamps[slot] = TimeZoneInfo.ConvertTimeToUtc(local, zone);
        return ZonedTimestampCodec.InRange(values.Timestamps[slot]) ? null : OutOfRange(value);
    }

    private string OutOfRange(DateTime value) => $"is out of range for a timestamp (0001-01-01 to 9999-12-31 UTC): {Format(value)}";

    protected override string Format(DateTime value) =>
        value.ToString(_utc ? "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'" : "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture);
}

internal sealed class UuidCell(DatasetColumn column, DataField field) : ParquetCell<Guid>(column, field)
{
    public override string? Parse(int row, RowValues values, int slot)
    {
        values.Guids[slot] = Value(row);
        return null;
    }

    protected override string Format(Guid value) => value.ToString("D");
}

/// <summary>
/// A STRING column: its UTF-8 bytes go to a text column as they are (length and NUL checked), or are parsed by the
/// column's CSV codec (its declared format, the dataset's number separators and time zone) into a typed one.
/// </summary>
internal sealed class StringCell(DatasetColumn column, DataField field, ColumnCodec codec) : ParquetCell<ReadOnlyMemory<char>>(column, field)
{
    /// <summary>A <c>char[]</c>'s header and length on a 64-bit runtime: Parquet.Net decodes each plain string into one.</summary>
    private const int ArrayOverhead = 24;

    private byte[] _utf8 = new byte[256];
    private int _length;

    /// <summary>
    /// Besides each row's slot, every value read plainly is a <c>char[]</c> of its own: an array header per row, and its
    /// characters, at most two bytes for each of the chunk's UTF-8 bytes. (A dictionary-encoded chunk shares its entries
    /// between rows, so this overestimates it: the bound stays safe whichever encoding the writer chose, page by page.)
    /// </summary>
    public override long DecodedBytes(long rows, long encodedBytes) =>
        base.DecodedBytes(rows, encodedBytes) + ObjectBytes(rows, encodedBytes);

    public override long ObjectBytes(long rows, long encodedBytes) => rows * ArrayOverhead + 2 * encodedBytes;

    public override string? Parse(int row, RowValues values, int slot)
    {
        var chars = Value(row).Span;
        var room = Encoding.UTF8.GetMaxByteCount(chars.Length);
        if (_utf8.Length < room)
        {
            _utf8 = new byte[Math.Max(room, _utf8.Length * 2)];
        }

        _length = Encoding.UTF8.GetBytes(chars, _utf8);
        var bytes = _utf8.AsSpan(0, _length);
        if (bytes.IndexOf((byte)0) is var nul and >= 0)
        {
            return $"contains a NUL character (position {nul + 1}), which PostgreSQL text cannot hold";
        }

        return codec.Parse(bytes, values, slot);
    }

    public override void Write(BinaryCopyRows rows, RowValues values, int slot) =>
        codec.Write(rows, _utf8.AsSpan(0, _length), values, slot);

    protected override string Format(ReadOnlyMemory<char> value) => value.ToString();
}
