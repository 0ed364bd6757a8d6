using System.Text;
using Ingestion.Workers.Streams;

namespace Ingestion.Workers.Csv;

/// <summary>
/// Turns a Windows-1252, ISO-8859-1 or UTF-16 (with its byte order mark) stream into UTF-8 as it is read, so the loader
/// keeps working on UTF-8 bytes. A byte (or code unit) that is no character of the source encoding is written as 0xFF,
/// which is never valid UTF-8, so the record that holds it is rejected by the UTF-8 check every record goes through
/// rather than loaded with a substitute: nothing is mangled silently. Offsets of what it yields are those of the UTF-8
/// text, not of the object; a reader that resumes at one reads the object from its start and skips (<see cref="DecodedSource"/>).
/// </summary>
internal sealed class Utf8Transcoder : ReadOnlyStream
{
    /// <summary>What an invalid byte or code unit becomes.</summary>
    public const byte Invalid = 0xFF;

    private const char Undefined = '\uFFFF';

    private readonly Stream _source;
    private readonly char[]? _table;
    private readonly bool _bigEndian;
    private readonly byte[] _in = new byte[64 * 1024];
    private readonly byte[] _stash = new byte[4];
    private int _inStart;
    private int _inEnd;
    private int _stashStart;
    private int _stashEnd;
    private bool _eof;
    private int _pendingHigh = -1;
    private bool _bomSkipped;

    private Utf8Transcoder(Stream source, char[]? table, bool bigEndian)
    {
        _source = source;
        _table = table;
        _bigEndian = bigEndian;
        _bomSkipped = table is not null;
    }

    /// <summary>A single-byte encoding: each byte is one character, or undefined.</summary>
    public static Utf8Transcoder SingleByte(Stream source, SourceEncoding encoding) => new(source, Tables[encoding], false);

    /// <summary>UTF-16 whose first two bytes are its byte order mark (FF FE little-endian, FE FF big-endian).</summary>
    public static Utf8Transcoder Utf16(Stream source, bool bigEndian) => new(source, null, bigEndian);

    private static readonly Dictionary<SourceEncoding, char[]> Tables = new()
    {
        [SourceEncoding.Windows1252] = Table(CodePagesEncodingProvider.Instance.GetEncoding(1252, EncoderFallback.ExceptionFallback,
            DecoderFallback.ExceptionFallback)!),
        [SourceEncoding.Latin1] = Table(Encoding.Latin1),
    };

    /// <summary>
    /// Byte to character. A byte that decodes to a C1 control character (U+0080-U+009F) counts as undefined: a text file
    /// never means one. That covers the five bytes Windows-1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D), which some
    /// libraries decode as C1 controls, and all of 0x80-0x9F in ISO-8859-1: a file labelled ISO-8859-1 with such bytes was
    /// almost always written by Windows (0x80 is its euro sign), so loading them would hide the wrong label as invisible text.
    /// </summary>
    private static char[] Table(Encoding encoding)
    {
        var table = new char[256];
        for (var b = 0; b < 256; b++)
        {
            try
            {
                var c = encoding.GetString([(byte)b]);
                table[b] = c.Length == 1 && c[0] is not (>= '\u0080' and <= '\u009F') ? c[0] : Undefined;
            }
            catch (DecoderFallbackException)
            {
                table[b] = Undefined;
            }
        }

        return table;
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            // Refill when what is left cannot make a character: nothing, or an odd byte of UTF-16.
            if (!_eof && _inEnd - _inStart < (_table is null ? 2 : 1))
            {
                Array.Copy(_in, _inStart, _in, 0, _inEnd - _inStart);
                _inEnd -= _inStart;
                _inStart = 0;
                var read = await _source.ReadAsync(_in.AsMemory(_inEnd), cancellationToken);
                _eof = read == 0;
                _inEnd += read;
                continue;
            }

            var written = Convert(buffer.Span);
            if (written > 0 || (_eof && _inStart == _inEnd && _stashStart == _stashEnd && _pendingHigh < 0) || buffer.IsEmpty)
            {
                return written;
            }
        }
    }

    private int Convert(Span<byte> output)
    {
        var written = 0;
        while (written < output.Length)
        {
            if (_stashStart < _stashEnd)
            {
                output[written++] = _stash[_stashStart++];
                continue;
            }

            if (!NextCharacter())
            {
                break;
            }
        }

        return written;
    }

    /// <summary>Puts the next character's UTF-8 bytes in the stash; false when the input has none ready.</summary>
    private bool NextCharacter()
    {
        _stashStart = _stashEnd = 0;
        if (_table is not null)
        {
            if (_inStart == _inEnd)
            {
                return false;
            }

            var c = _table[_in[_inStart++]];
            Stash(c == Undefined ? -1 : c);
            return true;
        }

        if (!_bomSkipped)
        {
            if (_inEnd - _inStart < 2 && !_eof)
            {
                return false;
            }

            _inStart = Math.Min(_inStart + 2, _inEnd);
            _bomSkipped = true;
        }

        if (_inEnd - _inStart < 2)
        {
            if (!_eof)
            {
                return false;
            }

            // The end: a lone high surrogate, or an odd last byte, is no character.
            if (_pendingHigh >= 0 || _inStart < _inEnd)
            {
                _pendingHigh = -1;
                _inStart = _inEnd;
                Stash(-1);
                return true;
            }

            return false;
        }

        int unit = _bigEndian ? (_in[_inStart] << 8) | _in[_inStart + 1] : _in[_inStart] | (_in[_inStart + 1] << 8);
        if (_pendingHigh >= 0)
        {
            if (unit is >= 0xDC00 and <= 0xDFFF)
            {
                _inStart += 2;
                Stash(char.ConvertToUtf32((char)_pendingHigh, (char)unit));
                _pendingHigh = -1;
                return true;
            }

            // A high surrogate without its low half: invalid; the unit that follows is read on its own.
            _pendingHigh = -1;
            Stash(-1);
            return true;
        }

        _inStart += 2;
        if (unit is >= 0xD800 and <= 0xDBFF)
        {
            _pendingHigh = unit;
            return NextCharacter();
        }

        Stash(unit is >= 0xDC00 and <= 0xDFFF ? -1 : unit);
        return true;
    }

    private void Stash(int codePoint)
    {
        if (codePoint < 0)
        {
            _stash[_stashEnd++] = Invalid;
        }
        else
        {
            _stashEnd = new Rune(codePoint).EncodeToUtf8(_stash);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _source.Dispose();
        }

        base.Dispose(disposing);
    }
}
