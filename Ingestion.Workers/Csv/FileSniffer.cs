namespace Ingestion.Workers.Csv;

/// <summary>Tells a text file from something else by its first bytes, before any row is read.</summary>
internal static class FileSniffer
{
    public const int SampleSize = 8192;

    public static FileProblem? Check(ReadOnlySpan<byte> head)
    {
        if (head.IsEmpty)
        {
            return new FileProblem("empty_file", "The file is empty.");
        }

        if (head.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]) || head.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]))
        {
            return NotText("it is UTF-16 text; save it as UTF-8");
        }

        if (head.StartsWith("PK\u0003\u0004"u8))
        {
            return NotText("it is a ZIP archive (an .xlsx workbook is one); export the sheet as CSV");
        }

        if (head.StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B]))
        {
            return NotText("it is gzip-compressed; upload it uncompressed");
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
