using System.Buffers;
using Ingestion.Platform.Storage;

namespace Ingestion.Workers.Parquet;

/// <summary>
/// One version of an S3 object as a seekable, read-only stream, read through ranged GETs pinned to its ETag: a Parquet
/// file is read from its end (the footer) and then at each column chunk's offset, so it needs random access, and the
/// object is never downloaded whole, to memory or disk. Small reads (the footer, the column chunks of a small row group)
/// are served from a read-ahead buffer of <see cref="ReadAhead"/> bytes filled by one GET; a read of at least
/// <c>directRead</c> bytes (a column's full read of a large chunk; by default the read-ahead's size) goes straight into
/// the caller's memory with a GET of exactly its range, so that columns read in turn do not refill the buffer for each
/// other. A replaced object fails the next GET with 412 Precondition Failed rather than mixing two files.
/// </summary>
internal sealed class RangedObjectStream(ObjectStore store, string bucket, string key, string? etag, long length, int readAhead,
    int? directRead = null, CancellationToken cancellation = default) : Stream
{
    /// <summary>
    /// How long a blocking read (the native reader's, which passes no token) waits for its GET before it fails as a
    /// dropped connection would (an <see cref="IOException"/>: the attempt is retried); the object store's client has no
    /// timeout of its own, and a GET of a few MiB that stalls this long is not coming.
    /// </summary>
    public static readonly TimeSpan BlockingGetTimeout = TimeSpan.FromMinutes(2);

    /// <summary>
    /// The streams' buffers: rented, because a chunk's stream lives for seconds, long enough for a buffer of its own to reach
    /// the GC's oldest generation and wait there, one per chunk, for its next collection; from a pool of their own, because
    /// the shared pool keeps an array per size in every thread that returned one and the native reader's reads block
    /// thread-pool threads, so it held 8 MiB of read-ahead buffers of an idle worker after a Parquet load (a heap dump,
    /// <c>make bench-ingest FORMAT=parquet</c>). This one keeps at most four of each size, for all threads, and for good
    /// (4 MiB at the default read-ahead): two chunks in flight use two; a fifth stream at once gets an array of its own.
    /// </summary>
    private static readonly ArrayPool<byte> Buffers = ArrayPool<byte>.Create(maxArrayLength: 16 << 20, maxArraysPerBucket: 4);

    private readonly int _directRead = Math.Min(directRead ?? readAhead, readAhead);
    private byte[] _buffer = Buffers.Rent(readAhead);
    private bool _disposed;
    private long _bufferStart;
    private int _bufferLength;
    private long _position;

    public int ReadAhead => readAhead;

    /// <summary>Bytes fetched from S3 so far (a byte fetched twice counts twice).</summary>
    public long BytesFetched { get; private set; }

    /// <summary>GETs sent so far.</summary>
    public int Requests { get; private set; }

    public override bool CanRead => true;

    public override bool CanSeek => true;

    public override bool CanWrite => false;

    public override long Length => length;

    public override long Position
    {
        get => _position;
        set => Seek(value, SeekOrigin.Begin);
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        var target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin)),
        };
        ArgumentOutOfRangeException.ThrowIfNegative(target, nameof(offset));
        _position = target;
        return _position;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_position >= length || destination.IsEmpty)
        {
            return 0;
        }

        var wanted = (int)Math.Min(destination.Length, length - _position);
        if (_position < _bufferStart || _position >= _bufferStart + _bufferLength)
        {
            if (wanted >= _directRead)
            {
                await FetchAsync(_position, destination[..wanted], cancellationToken);
                _position += wanted;
                return wanted;
            }

            var fill = (int)Math.Min(readAhead, length - _position);
            _bufferLength = 0;
            await FetchAsync(_position, _buffer.AsMemory(0, fill), cancellationToken);
            (_bufferStart, _bufferLength) = (_position, fill);
        }

        var from = (int)(_position - _bufferStart);
        var count = Math.Min(wanted, _bufferLength - from);
        _buffer.AsSpan(from, count).CopyTo(destination.Span);
        _position += count;
        return count;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>
    /// The native reader (a column's read of up to <c>directRead</c> bytes, into an array of its own) and Parquet.Net's
    /// small synchronous reads (page headers) block: served from the read-ahead buffer, or a GET straight into the
    /// caller's array, as a CSV's records block on their stream.
    /// </summary>
    public override int Read(byte[] buffer, int offset, int count) =>
        TryReadBuffered(buffer.AsSpan(offset, count)) ?? ReadBlocking(buffer.AsMemory(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (TryReadBuffered(buffer) is { } count)
        {
            return count;
        }

        var rented = Buffers.Rent(buffer.Length);
        try
        {
            var read = ReadBlocking(rented.AsMemory(0, buffer.Length));
            rented.AsSpan(0, read).CopyTo(buffer);
            return read;
        }
        finally
        {
            Buffers.Return(rented);
        }
    }

    private int? TryReadBuffered(Span<byte> destination)
    {
        if (_position < _bufferStart || _position >= _bufferStart + _bufferLength)
        {
            return null;
        }

        var count = (int)Math.Min(destination.Length, _bufferStart + _bufferLength - _position);
        _buffer.AsSpan((int)(_position - _bufferStart), count).CopyTo(destination);
        _position += count;
        return count;
    }

    private int ReadBlocking(Memory<byte> destination)
    {
        // The job's token (a cancel stops the GET at once) and a timeout: nothing else bounds a GET the native reader waits on.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(BlockingGetTimeout);
        try
        {
            return ReadAsync(destination, timeout.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException e) when (!cancellation.IsCancellationRequested)
        {
            throw new IOException($"A ranged GET of the object at offset {_position:N0} took more than {BlockingGetTimeout.TotalSeconds:N0} s.", e);
        }
    }

    public override void Flush()
    {
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            (_bufferLength, _bufferStart) = (0, 0);
            Buffers.Return(_buffer);
            _buffer = [];
        }

        base.Dispose(disposing);
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private async Task FetchAsync(long offset, Memory<byte> into, CancellationToken cancellationToken)
    {
        Requests++;
        await using var body = await store.OpenReadAsync(bucket, key, offset, etag, cancellationToken, end: offset + into.Length);
        var filled = 0;
        while (filled < into.Length)
        {
            var read = await body.ReadAsync(into[filled..], cancellationToken);
            if (read == 0)
            {
                throw new IOException(
                    $"s3://{bucket}/{key} ended at byte {offset + filled:N0} while {into.Length:N0} bytes from {offset:N0} were asked for.");
            }

            filled += read;
        }

        BytesFetched += filled;
    }
}
