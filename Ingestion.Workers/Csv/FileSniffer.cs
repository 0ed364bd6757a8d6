using System.Text;
using System.Text.Json;
using Ingestion.Platform.Datasets;

namespace Ingestion.Workers.Csv;

/// <summary>
/// Tells a text file from something else by its first bytes, before any row is read. For a compressed upload these are the
/// first bytes of what it decompresses to (<see cref="DecodedSource.ReadHeadAsync"/>): a compressed file inside is one
/// compression too many.
/// </summary>
internal static class FileSniffer
{
    public const int SampleSize = 8192;

    /// <summary>
    /// Whether the file looks like what it is declared as (<see cref="UploadFormat"/>): a Parquet file has its magic, a CSV
    /// file is not JSON Lines, a JSON Lines file starts with a JSON value (an object, or a record to reject), and neither is
    /// a Parquet file or anything else but text. A mismatch says what the file is and how to declare it.
    /// </summary>
    public static FileProblem? Check(ReadOnlySpan<byte> head, string format)
    {
        if (head.IsEmpty)
        {
            return new FileProblem("empty_file", "The file is empty.");
        }

        var isParquet = head.StartsWith(ParquetMagic);
        // A UTF-16 file is judged by its text: its first byte is half of its byte order mark. Text (CSV, JSON Lines) is read
        // in UTF-16 by that mark, as DecodedSource.Of decides, so there its NUL bytes are text.
        var text = Utf16Text(head);
        var utf16 = text is not null && format != UploadFormat.Parquet;
        var first = FirstCharacter(text ?? head);
        switch (format)
        {
            case UploadFormat.Parquet:
                return isParquet ? null : Mismatch(format, first == '{'
                    ? $"it is text that starts with '{{', most likely JSON Lines; declare {UploadFormat.Option}={UploadFormat.JsonLines}"
                    : $"it does not start with Parquet's magic bytes PAR1{(Check(head, text is not null) is null ? $"; it is text, most likely CSV: declare {UploadFormat.Option}={UploadFormat.Csv}" : "")}");
            case UploadFormat.Csv or UploadFormat.JsonLines when isParquet:
                return Mismatch(format, $"it is a Parquet file; declare {UploadFormat.Option}={UploadFormat.Parquet}");
            case UploadFormat.JsonLines when text is not null && first is not ('{' or null) && !StartsWithJsonValue(text):
                return Mismatch(format, $"it is UTF-16 text whose first line does not start with a JSON value, most likely CSV: declare {UploadFormat.Option}={UploadFormat.Csv}");
            case UploadFormat.Csv when first == '{':
                return Mismatch(format, $"it starts with '{{', so it is JSON (one object per line is JSON Lines); declare {UploadFormat.Option}={UploadFormat.JsonLines}");
            case UploadFormat.JsonLines when text is null && Check(head) is null && first is not ('{' or null) && !StartsWithJsonValue(head):
                return Mismatch(format, $"its first line does not start with '{{' but with '{Printable(first!.Value)}', so it is no JSON object per line; most likely it is CSV: declare {UploadFormat.Option}={UploadFormat.Csv}");
            default:
                return Check(head, utf16, format == UploadFormat.JsonLines ? "JSON Lines" : "CSV");
        }
    }

    /// <param name="utf16">The file starts with a UTF-16 byte order mark and is read as UTF-16: its NUL bytes are text.</param>
    /// <param name="kind">What the file should be, for the message.</param>
    public static FileProblem? Check(ReadOnlySpan<byte> head, bool utf16 = false, string kind = "CSV")
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
            return NotText(kind, "it is a ZIP archive (an .xlsx workbook is one); export the sheet as CSV");
        }

        if (CompressionMagic.Of(head) is not SourceCompression.None and var compression)
        {
            return NotText(kind,
                $"it is {Decompression.Name(compression)}-compressed (inside any compression it was sent with); compress it once, or not at all");
        }

        if (head.StartsWith(ParquetMagic))
        {
            return NotText(kind, "it is a Parquet file; export it as CSV");
        }

        if (head.StartsWith("%PDF"u8))
        {
            return NotText(kind, "it is a PDF document");
        }

        var nul = head.IndexOf((byte)0);
        return nul >= 0 ? NotText(kind, $"it contains a NUL byte at offset {nul}") : null;
    }

    /// <summary>The head as UTF-8 when it starts with a UTF-16 byte order mark (a character cut at its end is replaced).</summary>
    private static byte[]? Utf16Text(ReadOnlySpan<byte> head)
    {
        Encoding? utf16 = DecodedSource.Of(head, CsvDialect.Default) switch
        {
            SourceEncoding.Utf16LittleEndian => Encoding.Unicode,
            SourceEncoding.Utf16BigEndian => Encoding.BigEndianUnicode,
            _ => null,
        };
        return utf16 is null ? null : Encoding.UTF8.GetBytes(utf16.GetString(head[2..]));
    }

    private static FileProblem NotText(string kind, string why) => new("not_text", $"The file is not {kind} text: {why}.");

    private static ReadOnlySpan<byte> ParquetMagic => "PAR1"u8;

    private static FileProblem Mismatch(string format, string why) =>
        new("format_mismatch", $"The file is declared {format} but is not: {why}.");

    /// <summary>The first character after a UTF-8 byte order mark and whitespace, if the head has one.</summary>
    private static char? FirstCharacter(ReadOnlySpan<byte> head)
    {
        if (head.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            head = head[3..];
        }

        var at = head.IndexOfAnyExcept(" \t\r\n"u8);
        return at < 0 ? null : (char)head[at];
    }

    /// <summary>
    /// Whether the first non-blank line is a JSON value, or the head cuts one that opens with <c>[</c> or <c>"</c>. A JSON
    /// Lines file whose first record is an array, a string or a number is still JSON Lines, that record a reject like the
    /// same line further on; a CSV header (<c>id,amount</c>, <c>"id","amount"</c>) is no JSON value.
    /// </summary>
    private static bool StartsWithJsonValue(ReadOnlySpan<byte> head)
    {
        if (head.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            head = head[3..];
        }

        var line = head[head.IndexOfAnyExcept(" \t\r\n"u8)..];
        var end = line.IndexOfAny((byte)'\r', (byte)'\n');
        if (end >= 0)
        {
            line = line[..end];
        }

        try
        {
            var reader = new Utf8JsonReader(line);
            return reader.Read() && reader.TrySkip() && !reader.Read();
        }
        catch (JsonException)
        {
            return end < 0 && line[0] is (byte)'[' or (byte)'"';
        }
    }

    private static string Printable(char c) => c is >= ' ' and < (char)127 ? c.ToString() : $"byte 0x{(int)c:X2}";
}
