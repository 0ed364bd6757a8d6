using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Ingestion.Api.Security;
using Microsoft.Net.Http.Headers;

namespace Ingestion.Api.Reads;

/// <summary>
/// ETags from change counters: <c>"d42-json-…"</c> is version 42 of a dataset as JSON,
/// <c>"a7-csv-…"</c> version 7 of an account as CSV. A counter only moves when a load commits
/// rows of that dataset or account, so a client that sends its ETag back gets 304 until
/// then, without the query being run. Counters are per tenant: two tenants' version 3 of a
/// dataset on the same URL are different rows, so every tag ends with a mark of the tenant
/// (a hash, not its name) and answers vary by <c>X-Api-Key</c> and the console's
/// <c>Cookie</c> as well as by <c>Accept</c>. Otherwise a browser where tenant A signed out
/// and tenant B signed in would revalidate A's cached export with B's session and get a 304.
/// </summary>
public static class ReadCaching
{
    // Counters are per tenant, so a client cache must key an answer by the caller (its API key,
    // or the console's session cookie) as well as by the format.
    private static readonly string Vary = $"Accept, {ApiKeyAuthenticationHandler.Header}, {HeaderNames.Cookie}";

    // Tenants are few and their marks never change: hashed once each, not on every read.
    private static readonly ConcurrentDictionary<string, string> TenantMarks = new();

    private static CacheControlHeader? _cacheControl;

    public static string DatasetTag(string tenant, long version, RowFormat format) => $"\"d{version}-{Suffix(format)}-{TenantMark(tenant)}\"";

    public static string AccountTag(string tenant, long version, string view) => $"\"a{version}-{view}-{TenantMark(tenant)}\"";

    public static string Suffix(RowFormat format) => format switch
    {
        RowFormat.Json => "json",
        RowFormat.Ndjson => "ndjson",
        RowFormat.Csv => "csv",
        _ => format.ToString().ToLowerInvariant(),
    };

    /// <summary>Puts the validators on the response; true when the client's copy is current (answer 304).</summary>
    public static bool IsNotModified(HttpContext context, string etag, TimeSpan maxAge)
    {
        var headers = context.Response.Headers;
        headers.ETag = etag;
        headers.CacheControl = CacheControl(maxAge);
        headers.Vary = Vary;
        foreach (var value in context.Request.Headers.IfNoneMatch)
        {
            if (value is not null && Matches(value, etag))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Whether an <c>If-None-Match</c> value (<c>*</c> or a list of entity tags, RFC 9110 13.1.2) names
    /// <paramref name="etag"/>, compared weakly (a <c>W/</c> prefix does not matter). Read in place, without
    /// the header parser's list and objects: this runs on every revalidation. A list that is not well formed
    /// matches nothing, as with the parser, and the client gets the full answer.
    /// </summary>
    internal static bool Matches(ReadOnlySpan<char> header, ReadOnlySpan<char> etag)
    {
        var found = false;
        var rest = header.TrimStart(" \t,");
        while (!rest.IsEmpty)
        {
            if (rest[0] == '*')
            {
                found = true;
                rest = rest[1..];
            }
            else
            {
                if (rest.StartsWith("W/", StringComparison.Ordinal))
                {
                    rest = rest[2..];
                }

                // An opaque tag is a quoted string without quotes inside (commas allowed): up to the next quote.
                var close = rest.Length > 1 && rest[0] == '"' ? rest[1..].IndexOf('"') : -1;
                if (close < 0)
                {
                    return false;
                }

                found |= rest[..(close + 2)].SequenceEqual(etag);
                rest = rest[(close + 2)..];
            }

            // Between two members: optional whitespace, then a comma (or the end).
            rest = rest.TrimStart(" \t");
            if (!rest.IsEmpty && rest[0] != ',')
            {
                return false;
            }

            rest = rest.TrimStart(" \t,");
        }

        return found;
    }

    /// <summary>The Cache-Control value of <paramref name="maxAge"/>, made once (the setting does not change while the process runs).</summary>
    private static string CacheControl(TimeSpan maxAge)
    {
        var cached = _cacheControl;
        if (cached is null || cached.MaxAge != maxAge)
        {
            cached = new CacheControlHeader(maxAge,
                $"private, max-age={((long)maxAge.TotalSeconds).ToString(CultureInfo.InvariantCulture)}");
            _cacheControl = cached;
        }

        return cached.Value;
    }

    // Twelve hex digits of the tenant id's SHA-256: tells tenants apart in a tag without naming them.
    private static string TenantMark(string tenant) => TenantMarks.GetOrAdd(tenant,
        static t => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(t)).AsSpan(0, 6)));

    private sealed record CacheControlHeader(TimeSpan MaxAge, string Value);
}
