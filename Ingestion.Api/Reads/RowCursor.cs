using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace Ingestion.Api.Reads;

/// <summary>
/// Pagination cursors: where the last page ended (the values of its last row in the order
/// of the query), bound to the query they came from, and signed with HMAC-SHA256 under
/// <see cref="ReadOptions.CursorKey"/>. A cursor that was altered, forged, or taken to another
/// query is refused, so the values in it can be trusted as typed parameters.
/// </summary>
public sealed class RowCursor(IOptions<ReadOptions> options)
{
    private const int TagBytes = 16;
    private readonly byte[] _key = Encoding.UTF8.GetBytes(options.Value.CursorKey);

    private sealed record Payload(string Q, IReadOnlyList<string> V);

    public string Encode(string shape, IReadOnlyList<string> values)
    {
        var payload = JsonSerializer.SerializeToUtf8Bytes(new Payload(Fingerprint(shape), values));
        return Base64Url(payload) + "." + Base64Url(Tag(payload));
    }

    /// <summary>The values the cursor holds, or null with the reason it is refused.</summary>
    public IReadOnlyList<string>? Decode(string cursor, string shape, out string? error)
    {
        error = "is not a cursor this API gave out for this query (it was altered, or is from another query or an earlier key)";
        var dot = cursor.IndexOf('.');
        if (dot <= 0 || !TryBase64Url(cursor[..dot], out var payload) || !TryBase64Url(cursor[(dot + 1)..], out var tag)
            || tag.Length != TagBytes || !CryptographicOperations.FixedTimeEquals(tag, Tag(payload)))
        {
            return null;
        }

        var decoded = JsonSerializer.Deserialize<Payload>(payload);
        if (decoded is null || decoded.Q != Fingerprint(shape))
        {
            return null;
        }

        error = null;
        return decoded.V;
    }

    private byte[] Tag(byte[] payload) => HMACSHA256.HashData(_key, payload)[..TagBytes];

    private static string Fingerprint(string shape) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(shape))[..12]);

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static bool TryBase64Url(string text, out byte[] bytes)
    {
        bytes = [];
        var padded = text.Replace('-', '+').Replace('_', '/');
        padded += new string('=', (4 - padded.Length % 4) % 4);
        var buffer = new byte[padded.Length];
        if (!Convert.TryFromBase64String(padded, buffer, out var written))
        {
            return false;
        }

        bytes = buffer[..written];
        return true;
    }
}
