using System.Buffers.Binary;
using System.Data;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ingestion.Workers.Copy;

/// <summary>
/// Rows of a <c>copy … from stdin (format binary)</c>, encoded here and sent through Npgsql's raw
/// copy stream. Npgsql's <see cref="NpgsqlBinaryImporter"/> binds a parameter for every value
/// (type resolution, size, format), which profiling showed to be the largest part of a worker's
/// CPU per row; the values here are already parsed and typed, so each is a few stores into a
/// buffer. The encodings are PostgreSQL's binary send formats (big-endian), as Npgsql writes them,
/// except that the extreme dates and timestamps stay dates (see <see cref="WriteDate"/>).
/// </summary>
internal sealed partial class BinaryCopyRows : IAsyncDisposable
{
    // "PGCOPY\n\xff\r\n\0": the format's fixed signature.
    private static ReadOnlySpan<byte> Signature => [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00];

    // Flushed to the stream past this: big enough that a write is rare per row, small enough to stay
    // far below the large object heap's threshold.
    private const int FlushAt = 64 * 1024;

    private static readonly long PostgresEpochTicks = new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc).Ticks;
    private static readonly int PostgresEpochDay = new DateOnly(2000, 1, 1).DayNumber;

    private readonly NpgsqlConnection _connection;
    private readonly NpgsqlRawCopyStream _stream;
    private readonly ILogger _logger;
    private byte[] _buffer = new byte[FlushAt * 2];
    private int _length;
    private bool _completed;

    private BinaryCopyRows(NpgsqlConnection connection, NpgsqlRawCopyStream stream, ILogger logger)
    {
        _connection = connection;
        _stream = stream;
        _logger = logger;
        Signature.CopyTo(_buffer);
        _length = Signature.Length + 8; // flags and header extension length: both zero
        _buffer.AsSpan(Signature.Length, 8).Clear();
    }

    /// <summary>Rows written since the start (what the importer's completion used to return).</summary>
    public long Rows { get; private set; }

    public static async Task<BinaryCopyRows> BeginAsync(NpgsqlConnection connection, string copySql, ILogger logger,
        CancellationToken cancellationToken) =>
        new(connection, await connection.BeginRawBinaryCopyAsync(copySql, cancellationToken), logger);

    public void StartRow(int fields)
    {
        Rows++;
        BinaryPrimitives.WriteInt16BigEndian(Room(2), (short)fields);
        _length += 2;
    }

    public void WriteNull()
    {
        BinaryPrimitives.WriteInt32BigEndian(Room(4), -1);
        _length += 4;
    }

    public void WriteBytes(ReadOnlySpan<byte> value)
    {
        var span = Room(4 + value.Length);
        BinaryPrimitives.WriteInt32BigEndian(span, value.Length);
        value.CopyTo(span[4..]);
        _length += 4 + value.Length;
    }

    public void WriteInt32(int value)
    {
        var span = Room(8);
        BinaryPrimitives.WriteInt32BigEndian(span, 4);
        BinaryPrimitives.WriteInt32BigEndian(span[4..], value);
        _length += 8;
    }

    public void WriteInt64(long value)
    {
        var span = Room(12);
        BinaryPrimitives.WriteInt32BigEndian(span, 8);
        BinaryPrimitives.WriteInt64BigEndian(span[4..], value);
        _length += 12;
    }

    public void WriteBoolean(bool value)
    {
        var span = Room(5);
        BinaryPrimitives.WriteInt32BigEndian(span, 1);
        span[4] = value ? (byte)1 : (byte)0;
        _length += 5;
    }

    public void WriteUuid(Guid value)
    {
        var span = Room(20);
        BinaryPrimitives.WriteInt32BigEndian(span, 16);
        value.TryWriteBytes(span.Slice(4, 16), bigEndian: true, out _);
        _length += 20;
    }

    /// <summary>
    /// Microseconds since 2000-01-01 UTC. <see cref="DateTime.MinValue"/> and <see cref="DateTime.MaxValue"/>
    /// are written as the instants they are, not as ∓infinity as Npgsql would: a file's
    /// <c>9999-12-31T23:59:59.9999999Z</c> is a real (open-ended) timestamp, and date arithmetic on
    /// infinity fails. The codecs parse no infinity token, so none is ever written.
    /// </summary>
    public void WriteTimestampTz(DateTime value) => WriteInt64((value.Ticks - PostgresEpochTicks) / 10);

    /// <summary>
    /// Days since 2000-01-01. <see cref="DateOnly.MinValue"/> and <see cref="DateOnly.MaxValue"/> are
    /// 0001-01-01 and 9999-12-31, not ∓infinity as Npgsql would write them: <c>9999-12-31</c> is a common
    /// open-ended marker in files, and must stay a date that SQL can compute with.
    /// </summary>
    public void WriteDate(DateOnly value) => WriteInt32(value.DayNumber - PostgresEpochDay);

    /// <summary>
    /// numeric: base-10000 digits around the decimal point (weight: the power of 10000 of the first),
    /// sign, and display scale (the decimal's own). Leading and trailing zero digits are left out.
    /// </summary>
    public void WriteNumeric(decimal value)
    {
        Span<int> bits = stackalloc int[4];
        decimal.GetBits(value, bits);
        var scale = (bits[3] >> 16) & 0xFF;
        var negative = bits[3] < 0;
        var magnitude = ((UInt128)(uint)bits[2] << 64) | ((UInt128)(uint)bits[1] << 32) | (uint)bits[0];

        // Align the fraction to whole base-10000 digits: at most 3 more decimal digits, well inside 128 bits.
        var fractionDigits = (scale + 3) / 4;
        for (var pad = fractionDigits * 4 - scale; pad > 0; pad--)
        {
            magnitude *= 10;
        }

        Span<short> digits = stackalloc short[12]; // 96 bits and 3 digits of padding: at most 10 groups
        var count = 0;
        while (magnitude != 0)
        {
            digits[count++] = (short)(ulong)(magnitude % 10000);
            magnitude /= 10000;
        }

        // digits[0] is the least significant group; groups below fractionDigits are the fraction.
        var weight = count - fractionDigits - 1;
        var low = 0;
        while (low < count && digits[low] == 0)
        {
            low++;
        }

        var used = count - low;
        var span = Room(4 + 8 + 2 * used);
        BinaryPrimitives.WriteInt32BigEndian(span, 8 + 2 * used);
        BinaryPrimitives.WriteInt16BigEndian(span[4..], (short)used);
        BinaryPrimitives.WriteInt16BigEndian(span[6..], (short)(used == 0 ? 0 : weight));
        BinaryPrimitives.WriteUInt16BigEndian(span[8..], negative && used > 0 ? (ushort)0x4000 : (ushort)0);
        BinaryPrimitives.WriteInt16BigEndian(span[10..], (short)scale);
        for (var i = 0; i < used; i++)
        {
            BinaryPrimitives.WriteInt16BigEndian(span[(12 + 2 * i)..], digits[count - 1 - i]);
        }

        _length += 4 + 8 + 2 * used;
    }

    /// <summary>Hands the buffer to the stream once it holds enough; call between rows.</summary>
    public ValueTask FlushIfFullAsync(CancellationToken cancellationToken) =>
        _length >= FlushAt ? new ValueTask(FlushAsync(cancellationToken)) : ValueTask.CompletedTask;

    /// <summary>Ends the COPY; PostgreSQL's refusal of any row (a unique violation, say) is thrown here.</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        BinaryPrimitives.WriteInt16BigEndian(Room(2), -1);
        _length += 2;
        await FlushAsync(cancellationToken);
        _completed = true;
        await _stream.DisposeAsync();
    }

    /// <summary>
    /// A COPY left without <see cref="CompleteAsync"/> (an exception while reading) is cancelled, never
    /// half-committed. Only ever reached while an exception is on its way out, so nothing here may
    /// replace it: a write that failed broke the connection (a cancelled token, PostgreSQL gone), which
    /// ended the COPY with it, and cancelling then throws ObjectDisposedException instead of the
    /// OperationCanceledException or transient NpgsqlException the job's cancel and retry rules act on.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (_completed)
        {
            return;
        }

        _completed = true;
        if (_connection.FullState.HasFlag(ConnectionState.Broken))
        {
            return; // the broken connection has ended the COPY: nothing is left to cancel or commit
        }

        try
        {
            await _stream.CancelAsync();
        }
        catch (Exception e)
        {
            // The connection is then broken and its transaction lost: nothing of the COPY is committed.
            LogCancelFailed(e);
        }
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _stream.WriteAsync(_buffer.AsMemory(0, _length), cancellationToken);
        }
        catch (NpgsqlException e) when (e.InnerException is OperationCanceledException && cancellationToken.IsCancellationRequested)
        {
            // Npgsql reports a write cancelled while PostgreSQL was not reading as "Exception while writing to
            // stream"; the job layer tells a cancel from a failure by OperationCanceledException.
            throw new OperationCanceledException("The COPY was cancelled while writing.", e, cancellationToken);
        }

        _length = 0;
    }

    private Span<byte> Room(int bytes)
    {
        if (_buffer.Length - _length < bytes)
        {
            // Only a value longer than the spare half (a long text field) grows it.
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + bytes));
        }

        return _buffer.AsSpan(_length);
    }

    [LoggerMessage(LogLevel.Debug,
        "Cancelling an unfinished COPY failed; the exception that left it unfinished is the one reported")]
    private partial void LogCancelFailed(Exception exception);
}
