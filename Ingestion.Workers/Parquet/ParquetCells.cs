using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Unicode;
using System.Text.Json;
using Ingestion.Platform.Datasets;
using Ingestion.Workers.Copy;
using Ingestion.Workers.Csv;
using Parquet.Schema;
using ParquetSharp;

namespace Ingestion.Workers.Parquet;

/// <summary>
/// One mapped column of a row group: the Parquet column chunk's values, read a batch of rows at a time through Apache
/// Arrow's column reader (ParquetSharp) into typed buffers of <see cref="BatchRows"/> slots, reused for the whole file,
/// converted row by row into the dataset column's typed slot and written to the binary COPY. The chunk is decoded page by
/// page as the batches ask for it, so what a column holds is one batch and the page being decoded (and its dictionary),
/// whatever the row group's size. Typed values go straight across (an INT64 to a bigint, a DECIMAL to a numeric, a
/// TIMESTAMP to a timestamptz): no string is made of a number or a date, and a string's UTF-8 bytes are copied from the
/// page, not decoded into characters. A string column feeding a typed one is parsed by the CSV codecs, with the column's
/// declared format.
/// </summary>
internal abstract class ParquetCell(DatasetColumn column, DataField field)
{
    /// <summary>
    /// Rows read at once from every column. Large enough that a call into the native reader per column and batch costs
    /// nothing beside the rows' conversion, small enough that the fixed buffers stay small; a batch of wide strings is
    /// fewer rows (<see cref="StringCell.MaxBatchBytes"/>).
    /// </summary>
    public const int BatchRows = 4096;

    private readonly NumericFit _numeric = new(column.Type);

    public DatasetColumn Column { get; } = column;

    public DataField Field { get; } = field;

    /// <summary>
    /// Takes the column's physical layout from the native reader's schema (its physical type, a decimal's scale, a
    /// timestamp's unit), or says it is not one this cell converts: the file's schema, read twice, said otherwise.
    /// </summary>
    public abstract bool Bind(ColumnDescriptor descriptor);

    /// <summary>Starts reading a row group's column chunk (the reader is the cell's until the next group's), or none.</summary>
    public abstract void Open(ColumnReader? reader);

    /// <summary>Skips the chunk's first <paramref name="rows"/> rows: a resumed job starts within a row group.</summary>
    public abstract void Skip(long rows);

    /// <summary>Reads the chunk's next <paramref name="rows"/> rows (at most <see cref="BatchRows"/>) into the buffers.</summary>
    public void Read(int rows)
    {
        Begin();
        Append(rows);
        End();
    }

    /// <summary>Starts a batch: the buffers are empty.</summary>
    public abstract void Begin();

    /// <summary>
    /// Reads the chunk's next <paramref name="rows"/> rows after the batch's rows so far (all of them at most
    /// <see cref="BatchRows"/>): a batch of strings is read in pieces, so that it stops when its bytes are many.
    /// </summary>
    public abstract void Append(int rows);

    /// <summary>Ends a batch: its rows' slots are known.</summary>
    public abstract void End();

    /// <summary>The bytes the batch's values hold beside its fixed buffers: a string column's UTF-8; 0 for the others.</summary>
    public virtual long BatchBytes => 0;

    /// <summary>The longest value the column has held: what a piece of a batch of strings is sized by.</summary>
    public virtual long WidestValue => 0;

    /// <summary>Whether row <paramref name="row"/> of the batch is null.</summary>
    public abstract bool IsNull(int row);

    /// <summary>
    /// Why row <paramref name="row"/>'s physical value has no value of its Parquet type (a decimal wider than 28 digits, a
    /// date past year 9999, an INT_8 of 200), or null: the row is rejected, as a CSV value that does not parse is.
    /// </summary>
    public abstract string? Unreadable(int row);

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

    private static IntegerCell<T>? Integer<T>(DatasetColumn column, DataField field) where T : struct, IBinaryInteger<T>, IMinMaxValue<T> =>
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

    /// <summary>
    /// Whether an exact decimal fits numeric(p,s), as the text codecs judge it (<see cref="NumericFit"/>). The value is
    /// written out only for the reason of a reject: a string per row would be most of a load's garbage.
    /// </summary>
    protected string? FitNumeric(decimal value) =>
        _numeric.Fits(value) ? null : _numeric.Reason(value, value.ToString(CultureInfo.InvariantCulture));
}

/// <summary>
/// A column read into typed buffers of its own, a batch at a time: its values, densely (a null takes no slot), and for an
/// optional column each row's definition level, turned into the row's slot in the values (-1: null). A required column
/// has no levels to read. A subclass reads the native reader's physical values (an INT32, a FIXED_LEN_BYTE_ARRAY…) and
/// converts them into <typeparamref name="T"/> as they are read.
/// </summary>
internal abstract class ParquetCell<T>(DatasetColumn column, DataField field) : ParquetCell(column, field) where T : struct
{
    private readonly T[] _values = new T[BatchRows];
    private readonly short[] _levels = new short[BatchRows];
    private readonly int[] _slots = new int[BatchRows];
    private short _defined;
    private ColumnReader? _reader;
    private int _filled;
    private int _count;
    private int _offset;
    private string?[]? _unreadable;
    private bool _anyUnreadable;

    public override bool Bind(ColumnDescriptor descriptor)
    {
        _defined = descriptor.MaxDefinitionLevel;
        return Binds(descriptor);
    }

    /// <summary>Whether the column's physical type is one this cell converts; takes what the conversion needs.</summary>
    protected abstract bool Binds(ColumnDescriptor descriptor);

    public override void Open(ColumnReader? reader)
    {
        _reader?.Dispose();
        _reader = reader;
    }

    public override void Skip(long rows)
    {
        var skipped = _reader!.Skip(rows);
        if (skipped != rows)
        {
            throw new InvalidDataException($"its column chunk ends after {skipped:N0} rows, before the {rows:N0} a resumed job skips");
        }
    }

    public override void Begin()
    {
        BeginBatch();
        (_filled, _count) = (0, 0);
        if (_anyUnreadable)
        {
            Array.Clear(_unreadable!);
            _anyUnreadable = false;
        }
    }

    public override void Append(int rows)
    {
        var optional = _defined > 0;
        var until = _filled + rows;
        while (_filled < until)
        {
            // One call reads within one page: a batch that crosses pages takes two calls, the values appended.
            var levels = optional ? _levels.AsSpan(_filled, until - _filled) : default;
            _offset = _count;
            var read = ReadBatch(_reader!, until - _filled, levels, _values.AsSpan(_count), out var got);
            if (read == 0)
            {
                throw new InvalidDataException($"its column chunk ends after {_filled:N0} of the batch's {until:N0} rows");
            }

            _filled += read;
            _count += got;
        }
    }

    public override void End()
    {
        if (_defined > 0)
        {
            var next = 0;
            for (var row = 0; row < _filled; row++)
            {
                _slots[row] = _levels[row] == _defined ? next++ : -1;
            }
        }
    }

    /// <summary>Called before a batch's first read: a cell that keeps bytes of its own for the batch starts them afresh.</summary>
    protected virtual void BeginBatch()
    {
    }

    /// <summary>
    /// One call to the native reader: up to <paramref name="rows"/> rows' levels into <paramref name="levels"/> (empty for a
    /// required column) and their non-null values, converted, into <paramref name="into"/>; returns the rows read.
    /// </summary>
    protected abstract int ReadBatch(ColumnReader reader, int rows, Span<short> levels, Span<T> into, out int values);

    /// <summary>A physical batch read into <paramref name="scratch"/>, to be converted by the caller.</summary>
    protected static int ReadPhysical<TPhysical>(ColumnReader reader, int rows, Span<short> levels, TPhysical[] scratch,
        out int values) where TPhysical : unmanaged
    {
        var read = ((ColumnReader<TPhysical>)reader).ReadBatch(rows, levels, default, scratch.AsSpan(0, rows), out var got);
        values = (int)got;
        return (int)read;
    }

    public override bool IsNull(int row) => _defined > 0 && _slots[row] < 0;

    public override string? Unreadable(int row) => _anyUnreadable ? _unreadable![_defined > 0 ? _slots[row] : row] : null;

    /// <summary>
    /// Marks value <paramref name="value"/> of the current <see cref="ReadBatch"/> call as having no value of its type,
    /// and why; its row is rejected. A string is made only for such a value.
    /// </summary>
    protected void Refuse(int value, string reason)
    {
        _unreadable ??= new string?[BatchRows];
        _unreadable[_offset + value] = reason;
        _anyUnreadable = true;
    }

    /// <summary>The row's value; only asked of a row that is not null.</summary>
    protected T Value(int row) => _values[_defined > 0 ? _slots[row] : row];

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

/// <summary>How the physical values of the columns below are laid out: shared scratch and conversions.</summary>
internal static class ParquetPhysical
{
    /// <summary>1970-01-01 as a <see cref="DateTime"/>'s ticks and as a <see cref="DateOnly"/>'s day number.</summary>
    public const long EpochTicks = 621_355_968_000_000_000;

    public const int EpochDay = 719_162;

    /// <summary>The Julian day of 1970-01-01: a legacy INT96 timestamp counts its days from the Julian epoch.</summary>
    public const int JulianEpochDay = 2_440_588;

    /// <summary>A big-endian two's complement integer (a DECIMAL's FIXED_LEN_BYTE_ARRAY or BYTE_ARRAY) of at most 16 bytes.</summary>
    public static Int128 BigEndian(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > 16)
        {
            // Wider than 16 bytes only with leading sign bytes; anything else is more digits than a decimal holds.
            var sign = (byte)((sbyte)bytes[0] >> 7);
            if (bytes[..^16].ContainsAnyExcept(sign))
            {
                throw new OverflowException($"a {bytes.Length}-byte decimal is wider than the 28 digits a numeric value is read into");
            }

            bytes = bytes[^16..];
        }

        Int128 value = bytes.Length > 0 && (sbyte)bytes[0] < 0 ? -1 : 0;
        foreach (var b in bytes)
        {
            value = (value << 8) | b;
        }

        return value;
    }

    /// <summary>An unscaled integer and a scale as a decimal, exactly (never rounded); too many digits is an overflow.</summary>
    public static decimal Decimal(Int128 unscaled, int scale)
    {
        var negative = unscaled < 0;
        var magnitude = (UInt128)(negative ? -unscaled : unscaled);
        if (magnitude >> 96 != 0 || scale is < 0 or > 28)
        {
            throw new OverflowException($"the unscaled value {unscaled} with scale {scale} does not fit a decimal");
        }

        return new decimal((int)(uint)magnitude, (int)(uint)(magnitude >> 32), (int)(uint)(magnitude >> 64), negative, (byte)scale);
    }

    public static void Copy(IntPtr pointer, Span<byte> into)
    {
        unsafe
        {
            new ReadOnlySpan<byte>((void*)pointer, into.Length).CopyTo(into);
        }
    }
}

/// <summary>Any integer width, signed or not, into integer, bigint or numeric: out of range is a reject, never wrapped.</summary>
internal sealed class IntegerCell<T>(DatasetColumn column, DataField field) : ParquetCell<T>(column, field)
    where T : struct, IBinaryInteger<T>, IMinMaxValue<T>
{
    // An INT_8, INT_16, UINT_8 or UINT_16 is stored in an INT32: a value outside its width is not one (never wrapped).
    private static readonly bool Narrow = System.Runtime.CompilerServices.Unsafe.SizeOf<T>() < 4;
    private static readonly long Min = long.CreateTruncating(T.MinValue);
    private static readonly long Max = long.CreateTruncating(T.MaxValue);

    private readonly Int128 _min = column.Type.Kind == ColumnKind.Integer ? int.MinValue : long.MinValue;
    private readonly Int128 _max = column.Type.Kind == ColumnKind.Integer ? int.MaxValue : long.MaxValue;
    private readonly int[] _ints = new int[BatchRows];
    private readonly long[] _longs = new long[BatchRows];
    private bool _wide;

    /// <summary>An INT32 holds the widths up to 32 bits (an unsigned one as its bits), an INT64 the 64-bit ones.</summary>
    protected override bool Binds(ColumnDescriptor descriptor)
    {
        _wide = descriptor.PhysicalType == PhysicalType.Int64;
        return descriptor.PhysicalType is PhysicalType.Int32 or PhysicalType.Int64;
    }

    protected override int ReadBatch(ColumnReader reader, int rows, Span<short> levels, Span<T> into, out int values)
    {
        int read;
        if (_wide)
        {
            read = ReadPhysical(reader, rows, levels, _longs, out values);
            for (var i = 0; i < values; i++)
            {
                into[i] = T.CreateTruncating(_longs[i]);
            }
        }
        else
        {
            read = ReadPhysical(reader, rows, levels, _ints, out values);
            for (var i = 0; i < values; i++)
            {
                if (Narrow && (_ints[i] < Min || _ints[i] > Max))
                {
                    Refuse(i, $"is {_ints[i]}, which its Parquet type {Describe(Field)} does not hold ({Min} to {Max})");
                }

                into[i] = T.CreateTruncating(_ints[i]);
            }
        }

        return read;
    }

    public override string? Parse(int row, RowValues values, int slot)
    {
        var value = Int128.CreateTruncating(Value(row));
        if (Column.Type.Kind == ColumnKind.Numeric)
        {
            values.Decimals[slot] = (decimal)value;
            return FitNumeric(values.Decimals[slot]);
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
    private readonly int[] _ints = new int[BatchRows];
    private readonly long[] _longs = new long[BatchRows];
    private ByteArray[] _bytes = [];
    private FixedLenByteArray[] _fixed = [];
    private byte[] _scratch = [];
    private PhysicalType _physical;
    private int _scale;
    private int _length;

    /// <summary>The unscaled value as an INT32, an INT64, or big-endian bytes (fixed or variable length).</summary>
    protected override bool Binds(ColumnDescriptor descriptor)
    {
        (_physical, _scale, _length) = (descriptor.PhysicalType, descriptor.TypeScale, descriptor.TypeLength);
        switch (_physical)
        {
            case PhysicalType.ByteArray:
                _bytes = new ByteArray[BatchRows];
                break;
            case PhysicalType.FixedLenByteArray:
                _fixed = new FixedLenByteArray[BatchRows];
                _scratch = new byte[_length];
                break;
        }

        return _physical is PhysicalType.Int32 or PhysicalType.Int64 or PhysicalType.ByteArray or PhysicalType.FixedLenByteArray;
    }

    protected override int ReadBatch(ColumnReader reader, int rows, Span<short> levels, Span<decimal> into, out int values)
    {
        int read;
        switch (_physical)
        {
            case PhysicalType.Int32:
                read = ReadPhysical(reader, rows, levels, _ints, out values);
                for (var i = 0; i < values; i++)
                {
                    try
                    {
                        into[i] = ParquetPhysical.Decimal(_ints[i], _scale);
                    }
                    catch (OverflowException e)
                    {
                        (into[i], _) = (0m, Refuse(i, e));
                    }
                }

                break;
            case PhysicalType.Int64:
                read = ReadPhysical(reader, rows, levels, _longs, out values);
                for (var i = 0; i < values; i++)
                {
                    try
                    {
                        into[i] = ParquetPhysical.Decimal(_longs[i], _scale);
                    }
                    catch (OverflowException e)
                    {
                        (into[i], _) = (0m, Refuse(i, e));
                    }
                }

                break;
            case PhysicalType.FixedLenByteArray:
                read = ReadPhysical(reader, rows, levels, _fixed, out values);
                for (var i = 0; i < values; i++)
                {
                    ParquetPhysical.Copy(_fixed[i].Pointer, _scratch);
                    try
                    {
                        into[i] = ParquetPhysical.Decimal(ParquetPhysical.BigEndian(_scratch), _scale);
                    }
                    catch (OverflowException e)
                    {
                        (into[i], _) = (0m, Refuse(i, e));
                    }
                }

                break;
            default:
                read = ReadPhysical(reader, rows, levels, _bytes, out values);
                for (var i = 0; i < values; i++)
                {
                    if (_scratch.Length < _bytes[i].Length)
                    {
                        _scratch = new byte[_bytes[i].Length];
                    }

                    var bytes = _scratch.AsSpan(0, _bytes[i].Length);
                    ParquetPhysical.Copy(_bytes[i].Pointer, bytes);
                    try
                    {
                        into[i] = ParquetPhysical.Decimal(ParquetPhysical.BigEndian(bytes), _scale);
                    }
                    catch (OverflowException e)
                    {
                        (into[i], _) = (0m, Refuse(i, e));
                    }
                }

                break;
        }

        return read;
    }

    /// <summary>A decimal of more than 28 digits: PostgreSQL's numeric holds it, the decimal it is read into does not.</summary>
    private bool Refuse(int value, OverflowException e)
    {
        Refuse(value, $"has more digits than the 28 a Parquet decimal is loaded with ({e.Message})");
        return true;
    }

    public override string? Parse(int row, RowValues values, int slot)
    {
        var value = Value(row);
        if (Column.Type.Kind == ColumnKind.Numeric)
        {
            values.Decimals[slot] = value;
            return FitNumeric(value);
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
    private readonly bool[] _bools = new bool[BatchRows];

    protected override bool Binds(ColumnDescriptor descriptor) => descriptor.PhysicalType == PhysicalType.Boolean;

    protected override int ReadBatch(ColumnReader reader, int rows, Span<short> levels, Span<bool> into, out int values)
    {
        var read = ReadPhysical(reader, rows, levels, _bools, out values);
        _bools.AsSpan(0, values).CopyTo(into);
        return read;
    }

    public override string? Parse(int row, RowValues values, int slot)
    {
        values.Integers[slot] = Value(row) ? 1 : 0;
        return null;
    }

    protected override string Format(bool value) => value ? "true" : "false";
}

/// <summary>A DATE: an INT32 of days since 1970-01-01.</summary>
internal sealed class DateCell(DatasetColumn column, DataField field) : ParquetCell<DateOnly>(column, field)
{
    private readonly int[] _days = new int[BatchRows];

    protected override bool Binds(ColumnDescriptor descriptor) => descriptor.PhysicalType == PhysicalType.Int32;

    protected override int ReadBatch(ColumnReader reader, int rows, Span<short> levels, Span<DateOnly> into, out int values)
    {
        var read = ReadPhysical(reader, rows, levels, _days, out values);
        for (var i = 0; i < values; i++)
        {
            // Past year 9999 (or before year 1) is not a date .NET or the dataset holds: the file's fault, named.
            var day = (long)ParquetPhysical.EpochDay + _days[i];
            if (day is >= 0 and <= 3_652_058)
            {
                into[i] = DateOnly.FromDayNumber((int)day);
            }
            else
            {
                into[i] = default;
                Refuse(i, $"is outside years 1 to 9999: {_days[i]:N0} days from 1970-01-01");
            }
        }

        return read;
    }

    public override string? Parse(int row, RowValues values, int slot)
    {
        values.Dates[slot] = Value(row);
        return null;
    }

    protected override string Format(DateOnly value) => value.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}

/// <summary>
/// A TIMESTAMP (milliseconds, microseconds or nanoseconds since 1970 in an INT64; or a legacy INT96) into timestamptz.
/// One adjusted to UTC is the instant it says; one that is not (a wall-clock time) is in the dataset's declared time zone,
/// or UTC. Nanoseconds are cut to PostgreSQL's microseconds.
/// </summary>
internal sealed class TimestampCell(DatasetColumn column, DataField field, TimeZoneInfo? zone) : ParquetCell<DateTime>(column, field)
{
    private readonly bool _utc = field is not DateTimeDataField { IsAdjustedToUTC: false };
    private readonly long[] _longs = new long[BatchRows];
    private Int96[] _int96 = [];
    private long _ticksPerUnit;
    private long _unitsPerTick;

    protected override bool Binds(ColumnDescriptor descriptor)
    {
        if (descriptor.PhysicalType == PhysicalType.Int96)
        {
            _int96 = new Int96[BatchRows];
            return true;
        }

        (_ticksPerUnit, _unitsPerTick) = (descriptor.LogicalType as TimestampLogicalType)?.TimeUnit switch
        {
            TimeUnit.Millis => (TimeSpan.TicksPerMillisecond, 1L),
            TimeUnit.Micros => (TimeSpan.TicksPerMicrosecond, 1L),
            TimeUnit.Nanos => (1L, TimeSpan.NanosecondsPerTick),
            _ => (0L, 0L),
        };
        return descriptor.PhysicalType == PhysicalType.Int64 && _ticksPerUnit > 0;
    }

    protected override int ReadBatch(ColumnReader reader, int rows, Span<short> levels, Span<DateTime> into, out int values)
    {
        int read;
        if (_int96.Length > 0)
        {
            read = ReadPhysical(reader, rows, levels, _int96, out values);
            for (var i = 0; i < values; i++)
            {
                // Nanoseconds of the day in its first 8 bytes, the Julian day in its last 4.
                var value = _int96[i];
                var nanos = (long)(((ulong)(uint)value.B << 32) | (uint)value.A);
                long since;
                try
                {
                    since = checked(((long)value.C - ParquetPhysical.JulianEpochDay) * TimeSpan.TicksPerDay + nanos / TimeSpan.NanosecondsPerTick);
                }
                catch (OverflowException)
                {
                    since = long.MaxValue; // outside years 1 to 9999: refused below
                }

                into[i] = Instant(i, since);
            }
        }
        else
        {
            read = ReadPhysical(reader, rows, levels, _longs, out values);
            for (var i = 0; i < values; i++)
            {
                long since;
                try
                {
                    since = _unitsPerTick > 1 ? _longs[i] / _unitsPerTick : checked(_longs[i] * _ticksPerUnit);
                }
                catch (OverflowException)
                {
                    since = long.MaxValue; // outside years 1 to 9999: refused below
                }

                into[i] = Instant(i, since);
            }
        }

        return read;
    }

    /// <summary>
    /// Ticks since 1970 as a <see cref="DateTime"/>; one outside years 1 to 9999 (or too many ticks for a long) is not a
    /// timestamp .NET holds: its row is rejected (PostgreSQL's timestamptz reaches 294276 AD; the loader does not).
    /// </summary>
    private DateTime Instant(int value, long since)
    {
        if (since < -ParquetPhysical.EpochTicks || since > DateTime.MaxValue.Ticks - ParquetPhysical.EpochTicks)
        {
            Refuse(value, since == long.MaxValue
                ? "is outside years 1 to 9999: more ticks from 1970 than a timestamp holds"
                : $"is outside years 1 to 9999: {since:N0} ticks (100 ns) from 1970");
            return default;
        }

        var ticks = ParquetPhysical.EpochTicks + since;

        return new DateTime(ticks, DateTimeKind.Unspecified);
    }

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

/// <summary>A UUID: 16 bytes, most significant first.</summary>
internal sealed class UuidCell(DatasetColumn column, DataField field) : ParquetCell<Guid>(column, field)
{
    private readonly FixedLenByteArray[] _fixed = new FixedLenByteArray[BatchRows];
    private readonly byte[] _scratch = new byte[16];

    protected override bool Binds(ColumnDescriptor descriptor) =>
        descriptor is { PhysicalType: PhysicalType.FixedLenByteArray, TypeLength: 16 };

    protected override int ReadBatch(ColumnReader reader, int rows, Span<short> levels, Span<Guid> into, out int values)
    {
        var read = ReadPhysical(reader, rows, levels, _fixed, out values);
        for (var i = 0; i < values; i++)
        {
            ParquetPhysical.Copy(_fixed[i].Pointer, _scratch);
            into[i] = new Guid(_scratch, bigEndian: true);
        }

        return read;
    }

    public override string? Parse(int row, RowValues values, int slot)
    {
        values.Guids[slot] = Value(row);
        return null;
    }

    protected override string Format(Guid value) => value.ToString("D");
}

/// <summary>Where a string value's UTF-8 bytes are in its cell's batch buffer.</summary>
internal readonly record struct Utf8Range(int Start, int Length);

/// <summary>
/// A STRING column: its UTF-8 bytes, copied from the page into one buffer for the batch, go to a text column as they are
/// (UTF-8 validity, length and NUL checked), or are parsed by the column's CSV codec (its declared format, the dataset's
/// number separators and time zone) into a typed one. The batch's bytes are bounded: the batch is read in pieces and
/// stops near <see cref="MaxBatchBytes"/> (see <see cref="ParquetRecords"/>), a value longer than
/// <see cref="MaxValueBytes"/> is not copied but rejects its row, and a buffer grown by a wide batch is given back when
/// the batches narrow again. A dictionary-encoded page can repeat a wide value thousands of times in a few bytes of file.
/// </summary>
internal sealed class StringCell(DatasetColumn column, DataField field, ColumnCodec codec) : ParquetCell<Utf8Range>(column, field)
{
    /// <summary>The bytes a batch of one string column holds, about: fewer rows are read when they are wide.</summary>
    public const int MaxBatchBytes = 16 << 20;

    /// <summary>The longest string value loaded, the product's default record limit: a longer one rejects its row.</summary>
    public const int MaxValueBytes = 16 << 20;

    private const int SmallBuffer = 64 << 10;

    private readonly ByteArray[] _arrays = new ByteArray[BatchRows];
    private byte[] _bytes = new byte[SmallBuffer];
    private int _used;
    private long _widest;
    private Utf8Range _parsed;

    protected override bool Binds(ColumnDescriptor descriptor) => descriptor.PhysicalType == PhysicalType.ByteArray;

    public override long BatchBytes => _used;

    public override long WidestValue => _widest;

    protected override void BeginBatch()
    {
        // A buffer a wide batch grew is not kept for narrow ones: the worker holds it no longer than the wide values last.
        if (_bytes.Length > 4 * SmallBuffer && _used < _bytes.Length / 4)
        {
            _bytes = new byte[Math.Max(SmallBuffer, _used)];
        }

        _used = 0;
    }

    protected override int ReadBatch(ColumnReader reader, int rows, Span<short> levels, Span<Utf8Range> into, out int values)
    {
        // The values point into the native reader's page, valid until its next read: copied out at once.
        var read = ReadPhysical(reader, rows, levels, _arrays, out values);
        long room = _used;
        for (var i = 0; i < values; i++)
        {
            var length = _arrays[i].Length;
            _widest = Math.Max(_widest, Math.Min(length, MaxValueBytes + 1L));
            room += length <= MaxValueBytes ? length : 0;
        }

        if (room > _bytes.Length)
        {
            if (room > Array.MaxLength)
            {
                throw new InvalidOperationException(
                    $"its batch of {room:N0} bytes of strings is more than an array holds (the values widened suddenly)");
            }

            Array.Resize(ref _bytes, (int)Math.Min(Array.MaxLength, Math.Max(room, 2L * _bytes.Length)));
        }

        for (var i = 0; i < values; i++)
        {
            var length = _arrays[i].Length;
            if (length > MaxValueBytes)
            {
                into[i] = new Utf8Range(-1, length); // not copied: Parse rejects the row
                continue;
            }

            if (length > 0)
            {
                ParquetPhysical.Copy(_arrays[i].Pointer, _bytes.AsSpan(_used, length));
            }

            into[i] = new Utf8Range(_used, length);
            _used += length;
        }

        return read;
    }

    private ReadOnlySpan<byte> Bytes(Utf8Range range) => _bytes.AsSpan(range.Start, range.Length);

    public override string? Parse(int row, RowValues values, int slot)
    {
        _parsed = Value(row);
        if (_parsed.Start < 0)
        {
            return $"is {_parsed.Length:N0} bytes long, more than the {MaxValueBytes:N0} a value may be";
        }

        var bytes = Bytes(_parsed);
        if (!Utf8.IsValid(bytes))
        {
            return "is not valid UTF-8, which a Parquet STRING must be";
        }

        if (bytes.IndexOf((byte)0) is var nul and >= 0)
        {
            return $"contains a NUL character (position {nul + 1}), which PostgreSQL text cannot hold";
        }

        return codec.Parse(bytes, values, slot);
    }

    public override void Write(BinaryCopyRows rows, RowValues values, int slot) => codec.Write(rows, Bytes(_parsed), values, slot);

    protected override string Format(Utf8Range value) => value.Start < 0
        ? $"({value.Length:N0} bytes, not kept)"
        : System.Text.Encoding.UTF8.GetString(Bytes(value));
}
