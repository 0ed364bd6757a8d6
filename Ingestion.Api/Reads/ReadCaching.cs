using System.Globalization;
using Ingestion.Api.Security;
using Microsoft.Net.Http.Headers;

namespace Ingestion.Api.Reads;

/// <summary>
/// ETags from change counters: <c>"d42-json"</c> is version 42 of a dataset as JSON,
/// <c>"a7-csv"</c> version 7 of an account as CSV. A counter only moves when a load commits
/// rows of that dataset or account, so a client that sends its ETag back gets 304 until
/// then, without the query being run. Counters are per tenant, so answers vary by
/// <c>X-Api-Key</c> (the caller) as well as by <c>Accept</c>.
/// </summary>
public static class ReadCaching
{
    public static string DatasetTag(long version, RowFormat format) => $"\"d{version}-{Suffix(format)}\"";

    public static string AccountTag(long version, string view) => $"\"a{version}-{view}\"";

    public static string Suffix(RowFormat format) => format.ToString().ToLowerInvariant();

    /// <summary>Puts the validators on the response; true when the client's copy is current (answer 304).</summary>
    public static bool IsNotModified(HttpContext context, string etag, TimeSpan maxAge)
    {
        var headers = context.Response.Headers;
        headers.ETag = etag;
        headers.CacheControl = $"private, max-age={((long)maxAge.TotalSeconds).ToString(CultureInfo.InvariantCulture)}";
        // Counters are per tenant: two tenants' "d3-json" on the same URL are different rows, so a
        // client cache must key an answer by the API key as well as by the format.
        headers.Vary = $"Accept, {ApiKeyAuthenticationHandler.Header}";
        if (!EntityTagHeaderValue.TryParseList(context.Request.Headers.IfNoneMatch, out var tags))
        {
            return false;
        }

        var current = new EntityTagHeaderValue(etag);
        return tags.Any(t => t.Equals(EntityTagHeaderValue.Any) || t.Compare(current, useStrongComparison: false));
    }
}
