using Ingestion.Contracts.Uploads;
using Ingestion.Platform.Datasets;
using Ingestion.Platform.Storage;

namespace Ingestion.Workers.Csv;

/// <summary>The encodings a file may be read from; everything but UTF-8 is transcoded to UTF-8 as it is read.</summary>
internal enum SourceEncoding
{
    Utf8,
    Utf16LittleEndian,
    Utf16BigEndian,
    Windows1252,
    Latin1,
}

/// <summary>
/// An upload's object as UTF-8 text from some offset on. A plain UTF-8 object is read from the offset with a ranged GET, as
/// it always was. Any other (compressed, or in another encoding) is read from its start through <see cref="Decompression"/>
/// and <see cref="Utf8Transcoder"/> and the text before the offset skipped without parsing: offsets (and so checkpoints)
/// count bytes of the UTF-8 text, which map to no fixed position in the object.
/// </summary>
internal static class DecodedSource
{
    private const int SkipBufferSize = 1 << 20;

    /// <summary>
    /// The encoding the object is read in: UTF-16 whenever it starts with a UTF-16 byte order mark (which no other
    /// encoding's text does), else the dialect's.
    /// </summary>
    public static SourceEncoding Of(ReadOnlySpan<byte> head, CsvDialect dialect)
    {
        if (head.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]))
        {
            return SourceEncoding.Utf16LittleEndian;
        }

        if (head.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]))
        {
            return SourceEncoding.Utf16BigEndian;
        }

        return dialect.Encoding switch
        {
            CsvDialectRules.Windows1252 => SourceEncoding.Windows1252,
            CsvDialectRules.Latin1 => SourceEncoding.Latin1,
            _ => SourceEncoding.Utf8,
        };
    }

    /// <summary>
    /// The first <paramref name="length"/> bytes of the object's content: of its decompressed text when it is compressed, so
    /// the byte order mark and the checks for what a file is look at the text, not at the compressor's header.
    /// </summary>
    public static async Task<byte[]> ReadHeadAsync(ObjectStore store, ProcessUpload job, string? etag, SourceCompression compression,
        int length, CancellationToken cancellationToken)
    {
        if (compression == SourceCompression.None)
        {
            return await store.ReadHeadAsync(job.Bucket, job.Key, length, etag, cancellationToken);
        }

        await using var text = Decompression.Open(await store.OpenReadAsync(job.Bucket, job.Key, 0, etag, cancellationToken), compression);
        var head = new byte[length];
        var filled = 0;
        while (filled < length && await text.ReadAsync(head.AsMemory(filled), cancellationToken) is var read and > 0)
        {
            filled += read;
        }

        return head[..filled];
    }

    /// <summary>
    /// The object's UTF-8 text from <paramref name="offset"/> (a count of UTF-8 bytes) on, and for a compressed or converted
    /// object the counter of the object's bytes read, which is its progress: its text's offsets are not its bytes (a UTF-16
    /// file's text is about half as long in UTF-8). A compressed or transcoded object is read from its start and the text
    /// before the offset skipped, decompressed and converted but not parsed: a resume at 90 % of a gzip file costs
    /// decompressing 90 % of it again, not loading it again.
    /// </summary>
    public static async Task<(Stream Text, CountingStream? ObjectRead)> OpenAsync(ObjectStore store, ProcessUpload job, string? etag,
        long offset, SourceEncoding encoding, SourceCompression compression, CancellationToken cancellationToken)
    {
        if (encoding == SourceEncoding.Utf8 && compression == SourceCompression.None)
        {
            return (await store.OpenReadAsync(job.Bucket, job.Key, offset, etag, cancellationToken), null);
        }

        var objectRead = new CountingStream(await store.OpenReadAsync(job.Bucket, job.Key, 0, etag, cancellationToken));
        var bytes = compression == SourceCompression.None ? objectRead : Decompression.Open(objectRead, compression);
        Stream text = encoding switch
        {
            SourceEncoding.Utf8 => bytes,
            SourceEncoding.Utf16LittleEndian => Utf8Transcoder.Utf16(bytes, bigEndian: false),
            SourceEncoding.Utf16BigEndian => Utf8Transcoder.Utf16(bytes, bigEndian: true),
            _ => Utf8Transcoder.SingleByte(bytes, encoding),
        };
        try
        {
            await SkipAsync(text, offset, cancellationToken);
            return (text, objectRead);
        }
        catch
        {
            await text.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// The text from <paramref name="offset"/> on, as <see cref="OpenAsync"/> gives it, or for a chunk
    /// (<paramref name="endOffset"/> set) its byte range: of a plain UTF-8 object, a ranged GET; of a compressed one, its
    /// text from its start, skipped to the offset and cut at the end. A chunk whose last batch ended on its last record
    /// reads nothing.
    /// </summary>
    public static async Task<(Stream Text, CountingStream? ObjectRead)> OpenRangeAsync(ObjectStore store, ProcessUpload job,
        string? etag, long offset, long? endOffset, SourceEncoding encoding, SourceCompression compression,
        CancellationToken cancellationToken)
    {
        if (endOffset is not { } end)
        {
            return await OpenAsync(store, job, etag, offset, encoding, compression, cancellationToken);
        }

        if (offset >= end)
        {
            return (Stream.Null, null);
        }

        if (encoding == SourceEncoding.Utf8 && compression == SourceCompression.None)
        {
            return (await store.OpenReadAsync(job.Bucket, job.Key, offset, etag, cancellationToken, end), null);
        }

        var (text, objectRead) = await OpenAsync(store, job, etag, offset, encoding, compression, cancellationToken);
        return (new Streams.BoundedStream(text, end - offset), objectRead);
    }

    private static async Task SkipAsync(Stream text, long bytes, CancellationToken cancellationToken)
    {
        if (bytes == 0)
        {
            return;
        }

        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(SkipBufferSize);
        try
        {
            while (bytes > 0)
            {
                var read = await text.ReadAsync(buffer.AsMemory(0, (int)Math.Min(bytes, SkipBufferSize)), cancellationToken);
                if (read == 0)
                {
                    throw new InvalidOperationException($"The text ended {bytes:N0} bytes before the checkpoint's offset.");
                }

                bytes -= read;
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>How a record that is not valid text is described: in the encoding the file was read in.</summary>
    public static string Name(SourceEncoding encoding) => encoding switch
    {
        SourceEncoding.Utf16LittleEndian or SourceEncoding.Utf16BigEndian => "UTF-16",
        SourceEncoding.Windows1252 => "Windows-1252",
        SourceEncoding.Latin1 => "ISO-8859-1",
        _ => "UTF-8",
    };
}
