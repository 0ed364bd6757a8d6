using System.Buffers;

namespace Ingestion.Workers.Csv;

/// <summary>
/// Finds record boundaries in a CSV object without parsing its fields, so a large object can be
/// cut into chunks that several workers load at once. One pass, streaming, a few vectorised
/// searches per megabyte: it tracks quotes as RFC 4180 (and so CsvHelper) does, so a line break
/// inside a quoted field is never a boundary, and counts lines as <see cref="CsvRecords"/> does
/// (CR, LF and CRLF each end one), so a chunk's line numbers are the file's own.
/// <para>
/// A boundary is the line break that ends a record, named by its offset and the line it ends: the
/// same convention as a checkpoint, so a chunk is read exactly as a resumed load would be. For
/// well-formed quoting the boundaries are where CsvHelper ends records; in a file whose quoting is
/// broken they may differ, which can only change how the broken records are rejected: every byte
/// still belongs to exactly one chunk.
/// </para>
/// </summary>
/// <param name="delimiter">Between fields: a quote opens a field only right after one (or a line break).</param>
/// <param name="quote">The dialect's quote; null when the file has no quoting, so every line break ends a record.</param>
internal sealed class RecordBoundaries(Stream source, long offset, long line, byte delimiter = (byte)',', byte? quote = (byte)'"')
    : IDisposable
{
    private const int BufferSize = 1 << 20;

    private readonly byte[] _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    private long _bufferStart = offset;
    private int _length;
    private int _position;
    private long _line = line;
    private bool _inQuotes;
    private bool _quotePending;
    private bool _crPending;

    // The source starts at a line break (the end of the header or of a previous chunk's last record).
    private byte _previous = (byte)'\n';

    /// <summary>Where the scan stands in the text: once <see cref="NextAsync"/> has returned null, the text's length.</summary>
    public long Offset => _bufferStart + _position;

    /// <summary>
    /// The next boundary at or after <paramref name="atLeast"/>, or null at the end of the object
    /// (an unclosed quote runs to the end: the chunk that holds it reports the record as too long).
    /// </summary>
    public async ValueTask<(long Offset, long Line)?> NextAsync(long atLeast, CancellationToken cancellationToken)
    {
        while (true)
        {
            if (_position == _length)
            {
                _bufferStart += _length;
                _length = await source.ReadAsync(_buffer.AsMemory(0, BufferSize), cancellationToken);
                _position = 0;
                if (_length == 0)
                {
                    return null;
                }
            }

            if (Scan(atLeast) is { } found)
            {
                return found;
            }
        }
    }

    /// <summary>Scans the buffer from the current position; a boundary found stops the scan just after it.</summary>
    private (long Offset, long Line)? Scan(long atLeast)
    {
        var span = _buffer.AsSpan(0, _length);
        while (_position < _length)
        {
            var b = span[_position];
            if (_crPending)
            {
                _crPending = false;
                if (b == (byte)'\n')
                {
                    // The LF of a CRLF: the CR already ended the line.
                    _previous = b;
                    _position++;
                    continue;
                }
            }

            if (_quotePending)
            {
                _quotePending = false;
                if (b == quote)
                {
                    // An escaped quote inside a quoted field.
                    _previous = b;
                    _position++;
                    continue;
                }

                _inQuotes = false;
            }

            var next = quote is { } q
                ? span[_position..].IndexOfAny(q, (byte)'\r', (byte)'\n')
                : span[_position..].IndexOfAny((byte)'\r', (byte)'\n');
            if (next < 0)
            {
                _previous = span[^1];
                _position = _length;
                return null;
            }

            _position += next;
            b = span[_position];
            var before = _position > 0 && next > 0 ? span[_position - 1] : _previous;
            var at = _bufferStart + _position;
            _previous = b;
            _position++;
            if (b == quote)
            {
                if (_inQuotes)
                {
                    _quotePending = true;
                }
                else if (before == delimiter || before is (byte)'\r' or (byte)'\n')
                {
                    // A quote opens a field only at its start; elsewhere it is an ordinary character.
                    _inQuotes = true;
                }

                continue;
            }

            var endedLine = _line;
            _line++;
            _crPending = b == (byte)'\r';
            if (!_inQuotes && at >= atLeast)
            {
                return (at, endedLine);
            }
        }

        return null;
    }

    public void Dispose()
    {
        ArrayPool<byte>.Shared.Return(_buffer);
        source.Dispose();
    }
}
