using CsvHelper;
using Ingestion.Platform.Datasets;
using Ingestion.Workers.Copy;

namespace Ingestion.Workers.Csv;

/// <summary>
/// The records of an S3 object read from some byte offset, with their absolute offsets
/// and line numbers in the object. CsvHelper works on the raw UTF-8 bytes: offsets are
/// exact (a BOM counts), and nothing is decoded that is not needed.
/// </summary>
internal sealed class CsvRecords : IDisposable
{
    private readonly CsvReader _reader;
    private readonly long _baseOffset;
    private readonly long _baseLine;
    private readonly int _maxRecordBytes;
    private CsvMalformedReason? _pending;

    /// <param name="source">The object's bytes from <paramref name="offset"/> on.</param>
    /// <param name="offset">Where <paramref name="source"/> starts in the object.</param>
    /// <param name="line">
    /// The line <paramref name="source"/> starts on. A resumed read starts just before the
    /// line break that ended the last committed record, so its first (empty) line is that one.
    /// </param>
    /// <param name="dialect">How fields are delimited and quoted; null: RFC 4180 with commas.</param>
    public CsvRecords(Stream source, long offset, long line, int maxRecordBytes, CsvDialect? dialect = null)
    {
        dialect ??= CsvDialect.Default;
        _baseOffset = offset;
        _baseLine = line;
        _maxRecordBytes = maxRecordBytes;
        _reader = CsvReader.Create(source, new CsvReaderOptions
        {
            Separator = dialect.Delimiter,
            HasHeader = false,
            Mode = dialect.Quote is not null ? CsvMode.Rfc4180 : dialect.Escape is not null ? CsvMode.Escape : CsvMode.NoEscape,
            Quote = dialect.Quote ?? '"',
            Escape = dialect.Escape ?? '\\',
            BufferSize = 1 << 20,
            MaxRecordSize = maxRecordBytes,
            TrackLineNumbers = true,
            MalformedData = CsvMalformedDataHandling.Recover,
            FieldCountMismatch = CsvFieldCountHandling.Allow,
            SkipEmptyLines = true,
            OnMalformedRecord = malformed => _pending = malformed.Reason,
        }, leaveOpen: false);
    }

    public CsvReader Reader => _reader;

    /// <summary>
    /// For an object whose bytes are not its text's (compressed, or converted from another encoding): its bytes read so far
    /// (<see cref="DecodedSource"/>).
    /// </summary>
    public CountingStream? ObjectRead { get; init; }

    /// <summary>Why CsvHelper found the current record's quoting broken, if it did.</summary>
    public CsvMalformedReason? Malformed { get; private set; }

    public long StartOffset => _baseOffset + _reader.ByteOffset;

    /// <summary>Where the current record ends, before its line break: the resume point after it.</summary>
    public long EndOffset => StartOffset + _reader.RawRecord.Length;

    public long StartLine => AbsoluteLine(_reader.LineNumber);

    public long EndLine => StartLine + LineBreaks(_reader.RawRecord);

    /// <summary>A line number as CsvHelper counts it from where this read started, made absolute.</summary>
    public long AbsoluteLine(long readerLine) => _baseLine + readerLine - 1;

    /// <exception cref="CsvFormatException">A record grew past the reader's buffer and the limit (an unclosed quote, usually).</exception>
    /// <exception cref="RecordTooLongException">A whole record is longer than the limit, which is below the reader's buffer.</exception>
    public bool Read()
    {
        var read = _reader.Read();
        Malformed = _pending;
        _pending = null;

        // CsvHelper checks MaxRecordSize only where it grows its buffer, past BufferSize (1 MiB): a smaller limit is kept here.
        if (read && _reader.RawRecord.Length > _maxRecordBytes)
        {
            throw new RecordTooLongException(StartLine, "");
        }

        return read;
    }

    public void Dispose() => _reader.Dispose();

    /// <summary>CR, LF and CRLF each end one line.</summary>
    private static int LineBreaks(ReadOnlySpan<byte> raw)
    {
        var count = 0;
        for (var i = raw.IndexOfAny((byte)'\r', (byte)'\n'); i >= 0 && i < raw.Length;)
        {
            count++;
            i += raw[i] == (byte)'\r' && i + 1 < raw.Length && raw[i + 1] == (byte)'\n' ? 2 : 1;
            var next = raw[i..].IndexOfAny((byte)'\r', (byte)'\n');
            i = next < 0 ? -1 : i + next;
        }

        return count;
    }
}
