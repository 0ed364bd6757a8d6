using System.Buffers;
using System.IO.Pipelines;

namespace Ingestion.Api.Reads;

/// <summary>
/// Where a JSON page is written: held in memory until the page is complete, so that a query that
/// times out in the middle of a page can still be answered with a problem instead of a cut response;
/// past <paramref name="limit"/> bytes (a page of very wide rows) it spills to the response and
/// streams from there, so memory stays bounded whatever the rows. The held bytes are in an array of
/// the shared pool, returned when the page is sent or dropped: a new 16 KiB array for every page was
/// a third of what a transaction page allocated (Read_allocations).
/// </summary>
/// <remarks>Switch targets only between a writer's flush and its next <see cref="GetMemory"/>: <see cref="SendAsync"/> is called after <c>Utf8JsonWriter.Flush</c>.</remarks>
public sealed class PageBuffer(PipeWriter response, int limit) : IBufferWriter<byte>, IDisposable
{
    private byte[]? _held = ArrayPool<byte>.Shared.Rent(Math.Min(limit, 16 * 1024));
    private int _written;

    /// <summary>Whether any byte went to the response: from then on, the response has begun.</summary>
    public bool Spilled => _held is null;

    public void Advance(int count)
    {
        if (_held is not null)
        {
            _written += count;
        }
        else
        {
            response.Advance(count);
        }
    }

    public Memory<byte> GetMemory(int sizeHint = 0) => _held is not null ? Grow(sizeHint).AsMemory(_written) : response.GetMemory(sizeHint);

    public Span<byte> GetSpan(int sizeHint = 0) => _held is not null ? Grow(sizeHint).AsSpan(_written) : response.GetSpan(sizeHint);

    /// <summary>
    /// Sends the page so far when it is due: nothing while it is held under the limit (unless the page is
    /// <paramref name="complete"/>), all that is held once it reaches it, and once spilled, what was written
    /// since the last call. The response's own flush is what sends and waits for a slow client, so a spilled
    /// page flushes every call rather than piling up in the response pipe.
    /// </summary>
    public async ValueTask SendAsync(bool complete, CancellationToken cancellationToken)
    {
        if (_held is { } held)
        {
            if (!complete && _written < limit)
            {
                return;
            }

            // Copied into the response's pipe by the write, so the array goes back to the pool right after it.
            _held = null;
            try
            {
                await response.WriteAsync(held.AsMemory(0, _written), cancellationToken);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(held);
            }
        }
        else
        {
            await response.FlushAsync(cancellationToken);
        }
    }

    /// <summary>Returns the held array to the pool when the page was dropped (a timeout) rather than sent.</summary>
    public void Dispose()
    {
        if (_held is { } held)
        {
            _held = null;
            ArrayPool<byte>.Shared.Return(held);
        }
    }

    /// <summary>The held array, replaced by one of twice the size (or more) when the next write does not fit.</summary>
    private byte[] Grow(int sizeHint)
    {
        var held = _held!;
        var needed = _written + Math.Max(sizeHint, 1);
        if (needed <= held.Length)
        {
            return held;
        }

        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, held.Length * 2));
        held.AsSpan(0, _written).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(held);
        _held = larger;
        return larger;
    }
}
