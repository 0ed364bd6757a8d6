using System.Buffers;
using System.Text.Json;
using System.Text.Unicode;
using Ingestion.Platform.Sources;
using Ingestion.Workers.Copy;
using Ingestion.Workers.Csv;
using Ingestion.Workers.Syncs;

namespace Ingestion.Workers.JsonLines;

/// <summary>
/// The records of a JSON Lines file read from some byte offset: one JSON object per line, each parsed on its own bytes
/// (a <see cref="JsonDocument"/> over the read buffer, nothing copied) and coerced to the dataset's columns by the sync
/// path's <see cref="RecordMapper"/>. Lines end as in <see cref="CsvRecords"/> (CR, LF or CRLF each end one), and a JSON
/// string cannot hold a raw line break, so every line break ends a record: offsets and line numbers are exact, and
/// <see cref="RecordBoundaries"/> can cut the file into chunks. Blank lines are skipped.
/// </summary>
internal sealed class JsonLineRecords : IUploadRecords
{
    private const int InitialBufferSize = 1 << 20;

    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 64 };

    private readonly Stream _source;
    private readonly int _maxRecordBytes;
    private readonly RecordMapper _mapper;
    private readonly IReadOnlyList<JsonPath> _paths;
    private readonly IReadOnlyList<string> _columns;
    private readonly string _encoding;
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(InitialBufferSize);
    private long _bufferStart;
    private int _length;
    private int _position;
    private bool _ended;
    private long _nextLine;
    private int _recordStart;
    private int _recordLength;
    private JsonDocument? _document;

    /// <param name="source">The file's text in UTF-8 from <paramref name="from"/> on.</param>
    /// <param name="from">
    /// Where <paramref name="source"/> starts: offset 0 is the file's start, on line 1; any other is the end of a record,
    /// just before its line break, on that record's line.
    /// </param>
    /// <param name="mapper">Checks and writes a record's values: one column per entry of <paramref name="paths"/>, in order.</param>
    /// <param name="encoding">The encoding the file was read in (its text transcoded to UTF-8), for a line that is not valid in it.</param>
    public JsonLineRecords(Stream source, RecordPosition from, int maxRecordBytes, RecordMapper mapper,
        IReadOnlyList<string> columns, IReadOnlyList<JsonPath> paths, string encoding = "UTF-8")
    {
        _encoding = encoding;
        _source = source;
        _maxRecordBytes = maxRecordBytes;
        _mapper = mapper;
        _columns = columns;
        _paths = paths;
        _bufferStart = from.Offset;
        _nextLine = from.Offset == 0 ? 1 : from.Line;
    }

    /// <summary>For a compressed object: its bytes the decompressor has read so far.</summary>
    public CountingStream? ObjectRead { get; init; }

    public long? ObjectBytesRead => ObjectRead?.BytesRead;

    public long Line { get; private set; }

    public RecordPosition End => new(_bufferStart + _recordStart + _recordLength, Line);

    public ReadOnlySpan<byte> Raw => _buffer.AsSpan(_recordStart, _recordLength);

    public bool Read()
    {
        _document?.Dispose();
        _document = null;
        while (NextLine())
        {
            var line = Raw;
            if (_bufferStart + _recordStart == 0 && line.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
            {
                // A byte order mark is no part of the first record, but its bytes still count in the offsets.
                _recordStart += 3;
                _recordLength -= 3;
                line = Raw;
            }

            if (line.IndexOfAnyExcept(" \t"u8) >= 0)
            {
                return true;
            }
        }

        return false;
    }

    public RowProblem? Check()
    {
        // JsonDocument does not check the UTF-8 inside strings, and the mapper would find it only in a mapped value.
        if (!Utf8.IsValid(Raw))
        {
            var at = RowConverter.InvalidUtf8At(Raw);
            return new RowProblem(null, _encoding == "UTF-8"
                ? $"is not valid UTF-8 (byte 0x{Raw[at]:X2} at byte {at + 1} of the line)"
                : RowConverter.NotValidIn(_encoding, Raw, "line"));
        }

        try
        {
            _document = JsonDocument.Parse(_buffer.AsMemory(_recordStart, _recordLength), Options);
        }
        catch (JsonException e)
        {
            return new RowProblem(null, Describe(e));
        }

        if (_mapper.Check(_document.RootElement) is not { } problem)
        {
            return null;
        }

        if (problem.Column.Length == 0)
        {
            return new RowProblem(null, problem.Reason);
        }

        // The column is named; its JSON path too, unless the reason already says it.
        var path = _paths[IndexOf(problem.Column)].Text;
        return new RowProblem(problem.Column, problem.Reason.Contains(path, StringComparison.Ordinal)
            ? problem.Reason
            : $"{problem.Reason} (at {path})");
    }

    public void Write(BinaryCopyRows rows) => _mapper.Write(rows);

    public long IntegerAt(int slot) => slot == _mapper.AccountSlot
        ? _mapper.Account
        : throw new ArgumentOutOfRangeException(nameof(slot), slot, "Only the account's slot is read back from a JSON record.");

    public void Dispose()
    {
        _document?.Dispose();
        _source.Dispose();
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
    }

    /// <summary>Moves to the next line, blank or not; false at the end of the source.</summary>
    /// <exception cref="RecordTooLongException">The line is longer than the reader holds.</exception>
    private bool NextLine()
    {
        while (true)
        {
            var rest = _buffer.AsSpan(_position, _length - _position);
            var at = rest.IndexOfAny((byte)'\r', (byte)'\n');

            // A CR at the end of what is read may be the first half of a CRLF: read on before deciding.
            if (at >= 0 && !(rest[at] == (byte)'\r' && _position + at + 1 == _length && !_ended))
            {
                TooLong(at);
                Line = _nextLine++;
                (_recordStart, _recordLength) = (_position, at);
                var breakLength = rest[at] == (byte)'\r' && at + 1 < rest.Length && rest[at + 1] == (byte)'\n' ? 2 : 1;
                _position += at + breakLength;
                return true;
            }

            if (_ended)
            {
                if (rest.IsEmpty)
                {
                    return false;
                }

                // The last line, without a line break.
                TooLong(rest.Length);
                Line = _nextLine++;
                (_recordStart, _recordLength) = (_position, rest.Length);
                _position = _length;
                return true;
            }

            TooLong(rest.Length);
            Fill();
        }
    }

    /// <summary>A line is a record however long; one longer than the limit fails the job rather than fill the memory.</summary>
    private void TooLong(int length)
    {
        if (length > _maxRecordBytes)
        {
            throw new RecordTooLongException(_nextLine, "");
        }
    }

    /// <summary>Moves the unread bytes to the buffer's start (growing it for a long line) and reads more after them.</summary>
    private void Fill()
    {
        var unread = _length - _position;
        if (_position > 0)
        {
            Buffer.BlockCopy(_buffer, _position, _buffer, 0, unread);
            _bufferStart += _position;
            (_position, _length) = (0, unread);
        }
        else if (_length == _buffer.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Min(_buffer.Length * 2, _maxRecordBytes + 2));
            Buffer.BlockCopy(_buffer, 0, larger, 0, _length);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        var read = _source.Read(_buffer, _length, _buffer.Length - _length);
        _length += read;
        _ended = read == 0;
    }

    private int IndexOf(string column)
    {
        for (var i = 0; i < _columns.Count; i++)
        {
            if (string.Equals(_columns[i], column, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        throw new InvalidOperationException($"The mapper named column {column}, which the file's map does not have.");
    }

    /// <summary>What the JSON reader found wrong, without its zero-based "LineNumber: 0 | BytePositionInLine" suffix.</summary>
    private static string Describe(JsonException e)
    {
        var message = e.Message;
        var cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        var what = (cut < 0 ? message : message[..cut]).TrimEnd('.', ' ');
        return e.BytePositionInLine is { } position
            ? $"is not a valid JSON object: {what} (at byte {position + 1} of the line)"
            : $"is not a valid JSON object: {what}";
    }
}
