using System.Buffers;
using System.Text;
using System.Text.Unicode;
using CsvHelper;
using Ingestion.Platform.Datasets;
using Ingestion.Workers.Copy;

namespace Ingestion.Workers.Csv;

/// <summary>Why a row is not loaded: the column at fault (null for the whole record) and the reason.</summary>
internal readonly record struct RowProblem(string? Column, string Reason);

/// <summary>
/// Checks one record against the dataset and writes it to a binary COPY. Checks go from
/// the record (quoting, field count, UTF-8) to its fields (required, type, length), and
/// stop at the first problem, which is what the rejects file reports.
/// </summary>
internal sealed class RowConverter
{
    private readonly HeaderMap _map;
    private readonly ColumnCodec[] _codecs;
    private readonly RowValues _values;
    private readonly NullMarkers? _nullMarkers;
    private readonly string _encoding;

    /// <param name="dialect">How values are written (null markers, number and date formats); null: plain CSV.</param>
    /// <param name="encoding">The encoding the file was read in, for a record that is not valid in it.</param>
    public RowConverter(HeaderMap map, CsvDialect? dialect = null, string encoding = "UTF-8")
    {
        _encoding = encoding;
        _map = map;
        _codecs = map.Columns.Select(c => DialectCodecs.For(c.Column, dialect)).ToArray();
        _values = new RowValues(map.Columns.Count);
        _nullMarkers = NullMarkers.Of(dialect);
    }

    public RowProblem? Check(CsvRecords records)
    {
        var reader = records.Reader;
        var raw = reader.RawRecord;
        if (records.Malformed is { } malformed)
        {
            return new RowProblem(null, Describe(malformed, records));
        }

        if (reader.FieldCount != _map.Header.Count)
        {
            var spans = records.EndLine > records.StartLine
                ? $"; it spans lines {records.StartLine}-{records.EndLine}, so a quote may be open too long"
                : "";
            return new RowProblem(null, $"has {reader.FieldCount} field{(reader.FieldCount == 1 ? "" : "s")}; the header has {_map.Header.Count}{spans}");
        }

        if (!Utf8.IsValid(raw))
        {
            // A transcoded file marks a byte that is no character of its encoding as 0xFF (Utf8Transcoder.Invalid).
            return new RowProblem(null, _encoding == "UTF-8"
                ? $"is not valid UTF-8 (byte 0x{raw[InvalidUtf8At(raw)]:X2} at position {InvalidUtf8At(raw) + 1} of the record)"
                : NotValidIn(_encoding, raw, "record") + Hint);
        }

        if (raw.IndexOf((byte)0) is var nul and >= 0)
        {
            return new RowProblem(null, $"contains a NUL byte (position {nul + 1} of the record), which PostgreSQL text cannot hold");
        }

        for (var i = 0; i < _codecs.Length; i++)
        {
            var column = _map.Columns[i];
            var field = reader.GetSpan(column.Field);
            if (field.IsEmpty || _nullMarkers?.Matches(field) == true)
            {
                if (column.Column.Required)
                {
                    return new RowProblem(column.Column.Name,
                        field.IsEmpty ? "is required but empty" : $"is required but is the null marker {Utf8Fields.Quote(field)}");
                }

                _values.Nulls[i] = true;
                continue;
            }

            _values.Nulls[i] = false;
            if (_codecs[i].Parse(field, _values, i) is { } problem)
            {
                return new RowProblem(column.Column.Name, problem);
            }
        }

        return null;
    }

    /// <summary>The integer value at <paramref name="slot"/> of the row that <see cref="Check"/> accepted last.</summary>
    public long IntegerAt(int slot) => _values.Integers[slot];

    /// <summary>Writes the row that <see cref="Check"/> accepted last.</summary>
    public void Write(BinaryCopyRows rows, CsvReader reader)
    {
        for (var i = 0; i < _codecs.Length; i++)
        {
            if (_values.Nulls[i])
            {
                rows.WriteNull();
            }
            else
            {
                _codecs[i].Write(rows, reader.GetSpan(_map.Columns[i].Field), _values, i);
            }
        }
    }

    /// <summary>
    /// What is said of a record (or line) of a transcoded file that holds a byte that is no character of its encoding, which
    /// <see cref="Utf8Transcoder"/> marks as 0xFF: the encoding and the character, counted in the record.
    /// </summary>
    public static string NotValidIn(string encoding, ReadOnlySpan<byte> raw, string record) =>
        $"is not valid {encoding}: it holds a byte that is no character of it (character {Utf8Fields.CountCharacters(raw[..InvalidUtf8At(raw)]) + 1} of the {record})";

    /// <summary>
    /// ISO-8859-1 leaves only 0x80-0x9F undefined, and those are the bytes Windows-1252 puts its euro sign and curly quotes
    /// at: a file labelled ISO-8859-1 that holds one was written by Windows.
    /// </summary>
    private string Hint => _encoding == "ISO-8859-1"
        ? $"; bytes 0x80-0x9F are Windows-1252 characters such as €, so declare encoding={CsvDialectRules.Windows1252} if Windows wrote the file"
        : "";

    private static string Describe(CsvMalformedReason reason, CsvRecords records) => reason switch
    {
        CsvMalformedReason.UnterminatedQuote =>
            $"opens a quoted field that is never closed: the record runs from line {records.StartLine} to the end of the file",
        CsvMalformedReason.StrayQuote => "has a quote inside an unquoted field; quote the whole field and double the quote",
        CsvMalformedReason.TextAfterClosingQuote => "has text after the closing quote of a field",
        CsvMalformedReason.LineBreakInQuotes => "has a line break inside a quoted field",
        _ => $"is malformed ({reason})",
    };

    /// <summary>The offset of the first byte of <paramref name="raw"/> that starts no valid UTF-8 sequence (JSON Lines records too).</summary>
    internal static int InvalidUtf8At(ReadOnlySpan<byte> raw)
    {
        var chars = ArrayPool<char>.Shared.Rent(raw.Length);
        try
        {
            Utf8.ToUtf16(raw, chars, out var read, out _, replaceInvalidSequences: false);
            return read;
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }
    }
}
