using System.Buffers;
using System.Text;
using System.Text.Json;
using Ingestion.Platform.Sources;

namespace Ingestion.Workers.Syncs;

/// <summary>
/// A page's body read as it arrives: a <see cref="Utf8JsonReader"/> walks it once, each record of the array at the
/// records path comes out on its own (a <see cref="JsonDocument"/> over the read buffer, nothing copied, for the
/// <see cref="RecordMapper"/>, as JSON Lines records do), and the values of the paths the pagination watches (cursor,
/// next link, <c>hasMore</c>, total) are kept wherever they stand, before or after the records. So a page holds a
/// buffer of the largest record (64 KB to start), not its body: several pages in flight no longer hold megabytes each.
/// The body is judged as <see cref="JsonDocument"/> would: a syntax error anywhere, even after the last record, is
/// <c>page_not_json</c> (the page's loader rolls back what it wrote), and a property given twice counts by its last value.
/// </summary>
internal sealed class PageStream : IPageFields, IDisposable
{
    private const int InitialBufferSize = 64 << 10;

    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 64 };

    private static readonly JsonDocumentOptions RecordOptions = new() { MaxDepth = 64 };

    private readonly Stream _body;
    private readonly string _describe;
    private readonly JsonPath _recordsPath;
    private readonly JsonPath[] _watched;
    private readonly (JsonTokenType Kind, string? Text)[] _values;
    private readonly TimeSpan _timeout;

    /// <summary>The containers around the reader: an array's next index, or an object's current property name.</summary>
    private readonly List<(bool Array, int Next, string? Name)> _frames = [];

    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(InitialBufferSize);
    private int _start;
    private int _length;
    private bool _ended;
    private bool _begun;
    private JsonReaderState _state = new(ReaderOptions);
    private CancellationTokenSource? _deadline;

    /// <summary>The frame depth of the records array while the reader is in it; -1 before and after.</summary>
    private int _recordsDepth = -1;
    private bool _recordsFound;
    private int _recordStart;
    private int _recordLength;
    private JsonDocument? _record;

    /// <param name="body">The response's body (bounded by <see cref="SyncOptions.MaxPageBytes"/>).</param>
    /// <param name="describe">The request's URL without its query, for messages.</param>
    /// <param name="recordsPath">Where the page's array of records is.</param>
    /// <param name="watched">The paths whose values <see cref="Text"/> and <see cref="IsFalse"/> answer for once the body is read.</param>
    /// <param name="timeout">How long the whole body may take to arrive, from its first read.</param>
    public PageStream(Stream body, string describe, JsonPath recordsPath, IReadOnlyList<JsonPath> watched, TimeSpan timeout)
    {
        _body = body;
        _describe = describe;
        _recordsPath = recordsPath;
        _watched = [.. watched];
        _values = new (JsonTokenType, string?)[_watched.Length];
        _timeout = timeout;
    }

    /// <summary>Records read so far; all of the page's once <see cref="ReadAsync"/> said false.</summary>
    public long Count { get; private set; }

    /// <summary>The record <see cref="ReadAsync"/> moved to, valid until the next call.</summary>
    public JsonElement Record => _record!.RootElement;

    /// <summary>The record's JSON as it came, valid until the next call.</summary>
    public ReadOnlySpan<byte> Raw => _buffer.AsSpan(_recordStart, _recordLength);

    /// <summary>
    /// Moves to the next record; false once the body is read to its end (its watched values known).
    /// </summary>
    /// <exception cref="SyncException"><c>page_not_json</c>, or <c>records_not_found</c> at the end of a body without the array.</exception>
    /// <exception cref="PageBodyException">The body broke off or came too slowly: a network failure, asked again like one.</exception>
    public async ValueTask<bool> ReadAsync(CancellationToken cancellationToken)
    {
        _record?.Dispose();
        _record = null;
        while (true)
        {
            bool? found;
            try
            {
                found = Step();
            }
            catch (JsonException e)
            {
                throw new SyncException("page_not_json", $"{_describe} answered a body that is not JSON: {e.Message}");
            }

            if (found == true)
            {
                Count++;
                _record = JsonDocument.Parse(_buffer.AsMemory(_recordStart, _recordLength), RecordOptions);
                return true;
            }

            if (found == false)
            {
                return _recordsFound
                    ? false
                    : throw new SyncException("records_not_found", $"The page has no array at {_recordsPath}.");
            }

            await FillAsync(cancellationToken);
        }
    }

    /// <summary>The watched path's value as <see cref="JsonPath.SelectText"/> gives it: null for none, null, an object or an array.</summary>
    public string? Text(JsonPath path) => _values[IndexOf(path)].Text;

    public bool IsFalse(JsonPath path) => _values[IndexOf(path)].Kind == JsonTokenType.False;

    public void Dispose()
    {
        _record?.Dispose();
        _record = null;
        _deadline?.Dispose();
        _body.Dispose();
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
    }

    /// <summary>Reads tokens from what is buffered: true at a record, false at the body's end, null when more bytes are needed.</summary>
    private bool? Step()
    {
        var reader = new Utf8JsonReader(_buffer.AsSpan(_start, _length - _start), _ended, _state);
        while (true)
        {
            var before = reader.CurrentState;
            var consumed = reader.BytesConsumed;
            if (!reader.Read())
            {
                _start += (int)reader.BytesConsumed;
                _state = reader.CurrentState;
                return _ended ? false : null;
            }

            var token = reader.TokenType;
            if (token == JsonTokenType.PropertyName)
            {
                _frames[^1] = (false, 0, Name(ref reader));
                continue;
            }

            if (token is JsonTokenType.EndObject or JsonTokenType.EndArray)
            {
                _frames.RemoveAt(_frames.Count - 1);
                if (_frames.Count == _recordsDepth - 1)
                {
                    _recordsDepth = -1;
                }

                continue;
            }

            // A value starts: a record when its container is the records array.
            if (_recordsDepth >= 0 && _frames.Count == _recordsDepth)
            {
                var start = (int)reader.TokenStartIndex;
                if (token is JsonTokenType.StartObject or JsonTokenType.StartArray && !reader.TrySkip())
                {
                    // Not all of it is here: read it again from its start once more is.
                    _start += (int)consumed;
                    _state = before;
                    return null;
                }

                (_recordStart, _recordLength) = (_start + start, (int)reader.BytesConsumed - start);
                _start += (int)reader.BytesConsumed;
                _state = reader.CurrentState;
                return true;
            }

            var at = Located();
            if (at == Watch.Records)
            {
                if (_recordsFound)
                {
                    throw new SyncException("records_not_found", $"The page has more than one value at {_recordsPath}: which holds its records is not clear.");
                }

                _recordsFound = token == JsonTokenType.StartArray;
            }
            else if (at >= 0)
            {
                _values[at] = (token, token switch
                {
                    JsonTokenType.String => reader.GetString(),
                    JsonTokenType.Number => Encoding.UTF8.GetString(reader.ValueSpan),
                    JsonTokenType.True => "true",
                    JsonTokenType.False => "false",
                    _ => null,
                });
            }

            if (token is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                _frames.Add((token == JsonTokenType.StartArray, 0, null));
                if (at == Watch.Records && _recordsFound)
                {
                    _recordsDepth = _frames.Count;
                }
            }
        }
    }

    /// <summary>A property's name; null when it is no valid text (no path can name it then, and the document may still be valid).</summary>
    private static string? Name(ref Utf8JsonReader reader)
    {
        try
        {
            return reader.GetString();
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private static class Watch
    {
        public const int None = -1;
        public const int Records = -2;
    }

    /// <summary>
    /// Which path the value starting now is at (a watched path's index, <see cref="Watch.Records"/>, <see cref="Watch.None"/>);
    /// counts it as the next element of its array.
    /// </summary>
    private int Located()
    {
        if (_frames.Count > 0 && _frames[^1].Array)
        {
            var (_, next, _) = _frames[^1];
            _frames[^1] = (true, next + 1, null);
        }

        if (At(_recordsPath))
        {
            return Watch.Records;
        }

        for (var i = 0; i < _watched.Length; i++)
        {
            if (At(_watched[i]))
            {
                return i;
            }
        }

        return Watch.None;
    }

    /// <summary>Whether the value starting now is the one <paramref name="path"/> names (its array's index already counted).</summary>
    private bool At(JsonPath path)
    {
        var steps = path.Steps;
        if (steps.Count != _frames.Count)
        {
            return false;
        }

        for (var i = 0; i < steps.Count; i++)
        {
            var frame = _frames[i];
            var matches = steps[i] is string name
                ? !frame.Array && string.Equals(frame.Name, name, StringComparison.Ordinal)
                : frame.Array && frame.Next - 1 == (int)steps[i];
            if (!matches)
            {
                return false;
            }
        }

        return true;
    }

    private int IndexOf(JsonPath path)
    {
        var at = Array.IndexOf(_watched, path);
        return at >= 0 ? at : throw new ArgumentException($"The page was not read for {path}.", nameof(path));
    }

    /// <summary>Keeps the unread bytes at the buffer's start (growing it when one token or record fills it) and reads more after them.</summary>
    private async ValueTask FillAsync(CancellationToken cancellationToken)
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _length - _start);
            (_length, _start) = (_length - _start, 0);
        }

        if (_length == _buffer.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
            Buffer.BlockCopy(_buffer, 0, larger, 0, _length);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        if (_deadline is null)
        {
            _deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            _deadline.CancelAfter(_timeout);
        }

        int read;
        try
        {
            read = await _body.ReadAsync(_buffer.AsMemory(_length), _deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new PageBodyException(new TimeoutException($"The body did not arrive within {_timeout.TotalSeconds:0} s."));
        }
        catch (Exception e) when (e is HttpRequestException or IOException && !cancellationToken.IsCancellationRequested)
        {
            throw new PageBodyException(e);
        }

        if (!_begun && _length + read >= 3)
        {
            // JsonDocument skips a UTF-8 byte order mark; the reader would call it a syntax error.
            _begun = true;
            if (_buffer.AsSpan(0, 3).SequenceEqual((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
            {
                _start = 3;
            }
        }

        _length += read;
        _ended = read == 0;
    }
}

/// <summary>The values a page's pagination reads from its body: <see cref="PageStream"/> as it streamed, or a parsed document.</summary>
public interface IPageFields
{
    /// <summary>As <see cref="JsonPath.SelectText"/>: a string's content, a number's or boolean's literal; null for nothing, null, an object or an array.</summary>
    string? Text(JsonPath path);

    /// <summary>Whether the value at <paramref name="path"/> is <c>false</c>.</summary>
    bool IsFalse(JsonPath path);
}

/// <summary>A page's body broke off or did not arrive in time: a network failure, whose page is asked for again.</summary>
internal sealed class PageBodyException(Exception inner) : Exception(inner.Message, inner);
