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
    public static string DatasetTag(string tenant, long version, RowFormat format) => $"\"d{version}-{Suffix(format)}-{TenantMark(tenant)}\"";

    public static string AccountTag(string tenant, long version, string view) => $"\"a{version}-{view}-{TenantMark(tenant)}\"";

    public static string Suffix(RowFormat format) => format.ToString().ToLowerInvariant();

    /// <summary>Puts the validators on the response; true when the client's copy is current (answer 304).</summary>
    public static bool IsNotModified(HttpContext context, string etag, TimeSpan maxAge)
    {
        var headers = context.Response.Headers;
        headers.ETag = etag;
        headers.CacheControl = $"private, max-age={((long)maxAge.TotalSeconds).ToString(CultureInfo.InvariantCulture)}";
        // Counters are per tenant, so a client cache must key an answer by the caller (its API key,
        // or the console's session cookie) as well as by the format.
        headers.Vary = $"Accept, {ApiKeyAuthenticationHandler.Header}, {HeaderNames.Cookie}";
        if (!EntityTagHeaderValue.TryParseList(context.Request.Headers.IfNoneMatch, out var tags))
        {
            return false;
        }

        var current = new EntityTagHeaderValue(etag);
        return tags.Any(t => t.Equals(EntityTagHeaderValue.Any) || t.Compare(current, useStrongComparison: false));
    }

    // Twelve hex digits of the tenant id's SHA-256: tells tenants apart in a tag without naming them.
    private static string TenantMark(string tenant) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(tenant)).AsSpan(0, 6));
}
