namespace Ingestion.Workers.Streams;

/// <summary>
/// What every forward-only, read-only stream of the workers (decompression, transcoding, counting, limits)
/// says about itself: no seeking, no writing, no length. A subclass implements only how it reads
/// (<see cref="Stream.Read(byte[], int, int)"/> and <see cref="Stream.ReadAsync(Memory{byte}, CancellationToken)"/>)
/// and what it disposes.
/// </summary>
internal abstract class ReadOnlyStream : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public abstract override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>A read-only stream over <paramref name="inner"/>, which it owns: disposed with it (counting, limits).</summary>
internal abstract class ReadOnlyWrapper(Stream inner) : ReadOnlyStream
{
    protected Stream Inner { get; } = inner;

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Inner.Dispose();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await Inner.DisposeAsync();
        await base.DisposeAsync();
    }
}
