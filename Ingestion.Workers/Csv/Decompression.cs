using System.IO.Compression;
using Ingestion.Platform.Datasets;
using Ingestion.Workers.Streams;

namespace Ingestion.Workers.Csv;

/// <summary>
/// Undoes the compression of an uploaded object. The object's own first bytes decide (<see cref="CompressionMagic"/>), not
/// its name or the <c>Content-Encoding</c> it came with: a file named <c>.gz</c> that is plain text is read as text, and a
/// gzip file sent as <c>.csv</c> is still decompressed. A compressed stream cannot be entered at an offset: it is always read from its
/// start (<see cref="DecodedSource"/> skips to a checkpoint).
/// </summary>
internal static class Decompression
{
    /// <summary>
    /// The decompressed bytes of <paramref name="compressed"/>, which is disposed with them. gzip: every member of a
    /// multi-member file, one after the other (as <c>gunzip</c> does), and a file that ends inside a member throws
    /// (<see cref="GzipEndCheck"/>). zstd: every frame; a stream that ends inside a
    /// frame throws rather than ending early.
    /// </summary>
    public static Stream Open(Stream compressed, SourceCompression compression) => compression switch
    {
        SourceCompression.Gzip => new GzipEndCheck(compressed),
        SourceCompression.Zstd => new ZstdErrors(new ZstdSharp.DecompressionStream(compressed, checkEndOfStream: true, leaveOpen: false)),
        _ => compressed,
    };

    public static string Name(SourceCompression compression) => compression switch
    {
        SourceCompression.Gzip => "gzip",
        SourceCompression.Zstd => "zstd",
        _ => "none",
    };
}

/// <summary>
/// gzip through the BCL's <see cref="GZipStream"/>, which checks each member's CRC but, given a file cut short inside a
/// member, just ends: a truncated upload would load as a shorter file. So a small gzip member of known content (the
/// sentinel) is read after the object's last byte. If the object ends where a member does, the sentinel is a member of
/// its own and its content is the last thing decompressed; if the object is cut inside a member, its bytes are read as
/// part of that member and either break it (an exception) or never come out as the sentinel's content. The sentinel's
/// content is held back from the reader and checked at the end.
/// </summary>
internal sealed class GzipEndCheck : ReadOnlyStream
{
    private static readonly byte[] SentinelText = "\u0000ingestion gzip end check\u0000"u8.ToArray();
    private static readonly byte[] Sentinel = CompressSentinel();

    private readonly GZipStream _gzip;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;
    private bool _eof;

    public GzipEndCheck(Stream compressed) => _gzip = new GZipStream(new ThenSentinel(compressed), CompressionMode.Decompress);

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // Keep more than the sentinel's length pending, so that what is handed out is never part of it.
        while (!_eof && _end - _start <= SentinelText.Length)
        {
            if (_start > 0)
            {
                _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
                (_start, _end) = (0, _end - _start);
            }

            var read = await _gzip.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
            _end += read;
            _eof = read == 0;
        }

        var available = _end - _start - SentinelText.Length;
        if (available <= 0)
        {
            if (!_buffer.AsSpan(_start, _end - _start).SequenceEqual(SentinelText))
            {
                throw new InvalidDataException("the gzip data ends inside a member: the file is truncated");
            }

            return 0;
        }

        var count = Math.Min(available, buffer.Length);
        _buffer.AsMemory(_start, count).CopyTo(buffer);
        _start += count;
        return count;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _gzip.Dispose();
        }

        base.Dispose(disposing);
    }

    private static byte[] CompressSentinel()
    {
        using var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Optimal))
        {
            gzip.Write(SentinelText);
        }

        return compressed.ToArray();
    }

    /// <summary>The object's bytes, then the sentinel member's.</summary>
    private sealed class ThenSentinel(Stream source) : ReadOnlyStream
    {
        private int _sentinelRead = -1;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer) => _sentinelRead < 0 && source.Read(buffer) is var read and > 0 ? read : FromSentinel(buffer);

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            _sentinelRead < 0 && await source.ReadAsync(buffer, cancellationToken) is var read and > 0 ? read : FromSentinel(buffer.Span);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                source.Dispose();
            }

            base.Dispose(disposing);
        }

        private int FromSentinel(Span<byte> buffer)
        {
            _sentinelRead = Math.Max(_sentinelRead, 0);
            var count = Math.Min(buffer.Length, Sentinel.Length - _sentinelRead);
            Sentinel.AsSpan(_sentinelRead, count).CopyTo(buffer);
            _sentinelRead += count;
            return count;
        }
    }
}

/// <summary>
/// ZstdSharp's decompressor says broken data with <see cref="ZstdSharp.ZstdException"/> ("Data corruption detected") and a
/// stream cut inside a frame with <see cref="EndOfStreamException"/> ("Premature end of stream"): both are the file's fault,
/// and become the <see cref="InvalidDataException"/> the BCL's decompressors throw, which fails a job as <c>corrupt_file</c>
/// instead of retrying a file that will never decompress.
/// </summary>
internal sealed class ZstdErrors(Stream zstd) : ReadOnlyWrapper(zstd)
{
    public override int Read(byte[] buffer, int offset, int count)
    {
        try
        {
            return Inner.Read(buffer, offset, count);
        }
        catch (Exception e) when (e is ZstdSharp.ZstdException or EndOfStreamException)
        {
            throw Broken(e);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        try
        {
            return await Inner.ReadAsync(buffer, cancellationToken);
        }
        catch (Exception e) when (e is ZstdSharp.ZstdException or EndOfStreamException)
        {
            throw Broken(e);
        }
    }

    private static InvalidDataException Broken(Exception e) => new(e is EndOfStreamException
        ? "the zstd data ends inside a frame: the file is truncated"
        : $"zstd: {e.Message}", e);
}

/// <summary>
/// Counts the bytes read through it: how much of a compressed object the decompressor has consumed, which is what progress
/// against the object's size measures. Reset by each open of the object, as each open reads it from its start.
/// </summary>
internal sealed class CountingStream(Stream inner) : ReadOnlyWrapper(inner)
{
    public long BytesRead { get; private set; }

    public override long Position
    {
        get => BytesRead;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Counted(Inner.Read(buffer, offset, count));

    public override int Read(Span<byte> buffer) => Counted(Inner.Read(buffer));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Counted(await Inner.ReadAsync(buffer, cancellationToken));

    private int Counted(int read)
    {
        BytesRead += read;
        return read;
    }
}
