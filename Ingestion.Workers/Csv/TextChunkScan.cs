using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Storage;
using Ingestion.Workers.Copy;
using Ingestion.Workers.Uploads;

namespace Ingestion.Workers.Csv;

/// <summary>
/// A plain UTF-8 text object (CSV, JSON Lines) cut into chunks: each ends at the first record boundary
/// (<see cref="RecordBoundaries"/>) at least a chunk's bytes after its start, the last at the object's end.
/// </summary>
internal sealed class TextChunkScan : IChunkScan
{
    private readonly RecordBoundaries _boundaries;
    private readonly long _chunkBytes;
    private readonly long _objectBytes;
    private RecordPosition _at;

    private TextChunkScan(RecordBoundaries boundaries, RecordPosition from, long chunkBytes, long objectBytes) =>
        (_boundaries, _at, _chunkBytes, _objectBytes) = (boundaries, from, chunkBytes, objectBytes);

    /// <summary>Reads the object from <paramref name="from"/> on, pinned to <paramref name="etag"/>.</summary>
    public static async Task<IChunkScan> OpenAsync(ObjectStore store, ProcessUpload job, string? etag, RecordPosition from,
        long chunkBytes, long objectBytes, byte delimiter, byte? quote, CancellationToken cancellationToken)
    {
        // The scan names each boundary by the line its line break ends, counting from the break it starts on; a file
        // without a header (JSON Lines) starts at offset 0, before any break, so its first break ends line 1.
        var source = await store.OpenReadAsync(job.Bucket, job.Key, from.Offset, etag, cancellationToken);
        return new TextChunkScan(new RecordBoundaries(source, from.Offset, from.Offset == 0 ? 1 : from.Line, delimiter, quote),
            from, chunkBytes, objectBytes);
    }

    /// <summary>
    /// Whether a text object of <paramref name="objectBytes"/> is cut into chunks of <paramref name="chunkBytes"/>: only plain
    /// UTF-8 can be entered at a byte offset and cut at a line-break byte (not a compressed stream, nor UTF-16, whose line
    /// break is two bytes a cut would split), and only when it is larger than a chunk.
    /// </summary>
    public static bool Cuts(SourceText text, long objectBytes, long chunkBytes) =>
        text.Encoding == SourceEncoding.Utf8 && text.Compression == SourceCompression.None && objectBytes > chunkBytes;

    public async ValueTask<(RecordPosition End, bool Last)> NextAsync(CancellationToken cancellationToken)
    {
        var next = await _boundaries.NextAsync(_at.Offset + _chunkBytes, cancellationToken);
        _at = next is var (offset, line) ? new RecordPosition(offset, line) : _at with { Offset = _objectBytes };
        return (_at, next is null);
    }

    public void Dispose() => _boundaries.Dispose();
}
