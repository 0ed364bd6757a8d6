using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Storage;
using Ingestion.Workers.Copy;
using Ingestion.Workers.Uploads;

namespace Ingestion.Workers.Csv;

/// <summary>
/// A UTF-8 text object (CSV, JSON Lines) cut into chunks at record boundaries (<see cref="RecordBoundaries"/>), the last at
/// the text's end. A plain object's chunks share its bytes evenly (<see cref="ChunkSizing"/>): each ends at the first
/// boundary at least a share's bytes after its start (so a chunk is longer than its share by less than a record, and the
/// last shorter by what they add up to).
/// <para>
/// A compressed object is cut at record boundaries of its decompressed text (as its checkpoints count), which the scan
/// reads through the decompressor, but not in even shares. A compressed stream cannot be entered at an offset, so each
/// chunk decompresses the object from its start and skips the text before its own (<see cref="DecodedSource.OpenRangeAsync"/>):
/// the cost grows with the chunk's start. So a compressed object's chunk is a chunk's bytes
/// (<see cref="ChunkSizing.ChunkBytes"/>) or, if more, as long as all the text before it: the starts double,
/// and what the chunks skip adds up to less than twice the text, decompressed (about a second per 700 MB of CSV here),
/// whatever the file's size. The scan also notes where in the object each chunk's text ends, for progress.
/// </para>
/// </summary>
internal sealed class TextChunkScan : IChunkScan
{
    private readonly RecordBoundaries _boundaries;
    private readonly CountingStream? _objectRead;
    private readonly ChunkSizing _sizing;
    private readonly long _share;
    private readonly long _objectBytes;
    private RecordPosition _at;

    private TextChunkScan(RecordBoundaries boundaries, CountingStream? objectRead, RecordPosition from, ChunkSizing sizing,
        long objectBytes)
    {
        (_boundaries, _objectRead, _at, _sizing, _objectBytes) = (boundaries, objectRead, from, sizing, objectBytes);
        _share = Math.Max(1, ChunkSizing.ShareEnd(objectBytes, 1, sizing.Count(objectBytes)));
    }

    /// <summary>Reads the object's text from <paramref name="from"/> on, pinned to <paramref name="etag"/>.</summary>
    public static async Task<IChunkScan> OpenAsync(ObjectStore store, ProcessUpload job, string? etag, SourceText text,
        RecordPosition from, ChunkSizing sizing, long objectBytes, byte delimiter, byte? quote, CancellationToken cancellationToken)
    {
        // The scan names each boundary by the line its line break ends, counting from the break it starts on; a file
        // without a header (JSON Lines) starts at offset 0, before any break, so its first break ends line 1.
        var (source, objectRead) = await DecodedSource.OpenAsync(store, job, etag, from.Offset, text.Encoding, text.Compression,
            cancellationToken);
        return new TextChunkScan(new RecordBoundaries(source, from.Offset, from.Offset == 0 ? 1 : from.Line, delimiter, quote),
            text.Compression == SourceCompression.None ? null : objectRead, from, sizing, objectBytes);
    }

    /// <summary>
    /// Whether a text object of <paramref name="objectBytes"/> is cut into chunks of <paramref name="chunkBytes"/>: it is larger
    /// than a chunk, and either plain UTF-8, which can be entered at a byte offset, or compressed (gzip, zstd, in any
    /// encoding: the chunks are cut in its UTF-8 text) when <paramref name="cutCompressed"/>
    /// (<see cref="UploadProcessingOptions.ChunkCompressed"/>). Not an uncompressed file in another encoding: read as it is
    /// it would be transcoded to the chunk's start each time, for little gain, and UTF-16's two-byte line break cannot be cut
    /// at a byte.
    /// </summary>
    public static bool Cuts(SourceText text, long objectBytes, long chunkBytes, bool cutCompressed) =>
        objectBytes > chunkBytes && text.Compression switch
        {
            SourceCompression.None => text.Encoding == SourceEncoding.Utf8,
            _ => cutCompressed,
        };

    public async ValueTask<(RecordPosition End, bool Last, long? ObjectEnd)> NextAsync(CancellationToken cancellationToken)
    {
        // Plain: a share. Compressed: a chunk's bytes, or the text before it, if more.
        var length = _objectRead is null ? _share : Math.Max(_sizing.ChunkBytes, _at.Offset);
        var next = await _boundaries.NextAsync(_at.Offset + length, cancellationToken);
        var last = next is null;
        _at = next is var (offset, line) ? new RecordPosition(offset, line)
            : _at with { Offset = _objectRead is null ? _objectBytes : _boundaries.Offset };

        // What the decompressor had read when it found the boundary: a little past the chunk's text (what it buffers), never
        // past the object.
        return (_at, last, _objectRead is null ? null : last ? _objectBytes : Math.Min(_objectRead.BytesRead, _objectBytes));
    }

    public void Dispose() => _boundaries.Dispose();
}
