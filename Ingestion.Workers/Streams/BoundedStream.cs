namespace Ingestion.Workers.Streams;

/// <summary>
/// The first <paramref name="length"/> bytes of <paramref name="inner"/>, which is disposed with it: what a ranged GET is to
/// an object, for a stream that cannot be entered at an offset (a chunk of a compressed file's text, after the skip to its
/// start).
/// </summary>
internal sealed class BoundedStream(Stream inner, long length) : ReadOnlyWrapper(inner)
{
    private long _left = length;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer) => _left == 0 || buffer.IsEmpty ? 0 : Taken(Inner.Read(buffer[..Allowed(buffer.Length)]));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _left == 0 || buffer.IsEmpty ? 0 : Taken(await Inner.ReadAsync(buffer[..Allowed(buffer.Length)], cancellationToken));

    private int Allowed(int wanted) => (int)Math.Min(wanted, _left);

    private int Taken(int read)
    {
        _left -= read;
        return read;
    }
}
