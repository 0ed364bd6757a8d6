namespace Ingestion.Platform.Datasets;

/// <summary>How an uploaded object is compressed. Stored as uploaded (the smaller object is the point), decompressed as it is read.</summary>
public enum SourceCompression
{
    None,
    Gzip,
    Zstd,
}

/// <summary>
/// The one place the compressions' magic bytes are known. A file's own first bytes say how it is compressed, not its name
/// or the <c>Content-Encoding</c> it came with: the API names the stored object by them (<see cref="UploadFormat.KeyFor"/>),
/// the worker decompresses by them, and the worker's sniffer refuses a file that is still compressed once decompressed.
/// </summary>
public static class CompressionMagic
{
    /// <summary>Enough of a file's first bytes to tell its compression.</summary>
    public const int Length = 4;

    public static SourceCompression Of(ReadOnlySpan<byte> head) =>
        head.StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B]) ? SourceCompression.Gzip // RFC 1952, 2.3.1
        : head.StartsWith((ReadOnlySpan<byte>)[0x28, 0xB5, 0x2F, 0xFD]) ? SourceCompression.Zstd // RFC 8878, 3.1.1
        : SourceCompression.None;
}
