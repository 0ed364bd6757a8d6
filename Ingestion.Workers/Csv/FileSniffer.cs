namespace Ingestion.Workers.Csv;

/// <summary>
/// Tells a text file from something else by its first bytes, before any row is read. For a compressed upload these are the
/// first bytes of what it decompresses to (<see cref="DecodedSource.ReadHeadAsync"/>): a compressed file inside is one
/// compression too many.
/// </summary>
internal static class FileSniffer
{
    public const int SampleSize = 8192;

    /// <param name="utf16">The file starts with a UTF-16 byte order mark and is read as UTF-16: its NUL bytes are text.</param>
    public static FileProblem? Check(ReadOnlySpan<byte> head, bool utf16 = false)
    {
        if (head.IsEmpty)
        {
            return new FileProblem("empty_file", "The file is empty.");
        }

        if (utf16)
        {
            return null;
        }

        if (head.StartsWith("PK\u0003\u0004"u8))
        {
            return NotText("it is a ZIP archive (an .xlsx workbook is one); export the sheet as CSV");
        }

        if (head.StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B]))
        {
            return NotText("it is gzip-compressed (inside any compression it was sent with); compress it once, or not at all");
        }

        if (head.StartsWith((ReadOnlySpan<byte>)[0x28, 0xB5, 0x2F, 0xFD]))
        {
            return NotText("it is zstd-compressed (inside any compression it was sent with); compress it once, or not at all");
        }

        if (head.StartsWith("PAR1"u8))
        {
            return NotText("it is a Parquet file; export it as CSV");
        }

        if (head.StartsWith("%PDF"u8))
        {
            return NotText("it is a PDF document");
        }

        var nul = head.IndexOf((byte)0);
        return nul >= 0 ? NotText($"it contains a NUL byte at offset {nul}") : null;
    }

    private static FileProblem NotText(string why) => new("not_text", $"The file is not CSV text: {why}.");
}
