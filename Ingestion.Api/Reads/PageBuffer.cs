using System.Buffers;
using System.IO.Pipelines;

namespace Ingestion.Api.Reads;

/// <summary>
/// Where a JSON page is written: held in memory until the page is complete, so that a query that
/// times out in the middle of a page can still be answered with a problem instead of a cut response;
/// past <paramref name="limit"/> bytes (a page of very wide rows) it spills to the response and
/// streams from there, so memory stays bounded whatever the rows.
/// </summary>
/// <remarks>Switch targets only between a writer's flush and its next <see cref="GetMemory"/>: <see cref="SendAsync"/> is called after <c>Utf8JsonWriter.Flush</c>.</remarks>
public sealed class PageBuffer(PipeWriter response, int limit) : IBufferWriter<byte>
{
    private ArrayBufferWriter<byte>? _held = new(Math.Min(limit, 16 * 1024));

    /// <summary>Whether any byte went to the response: from then on, the response has begun.</summary>
    public bool Spilled => _held is null;

    public void Advance(int count)
    {
        if (_held is { } held)
        {
            held.Advance(count);
        }
        else
        {
            response.Advance(count);
        }
    }

    public Memory<byte> GetMemory(int sizeHint = 0) => _held is { } held ? held.GetMemory(sizeHint) : response.GetMemory(sizeHint);

    public Span<byte> GetSpan(int sizeHint = 0) => _held is { } held ? held.GetSpan(sizeHint) : response.GetSpan(sizeHint);

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
            if (!complete && held.WrittenCount < limit)
            {
                return;
            }

            _held = null;
            await response.WriteAsync(held.WrittenMemory, cancellationToken);
        }
        else
        {
            await response.FlushAsync(cancellationToken);
        }
    }
}
