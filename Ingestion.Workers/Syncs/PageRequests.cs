using System.Globalization;
using System.Text.Json;
using Ingestion.Platform.Sources;
using Microsoft.AspNetCore.WebUtilities;

namespace Ingestion.Workers.Syncs;

/// <summary>Where a partition is in its pages, as its checkpoint stores it.</summary>
/// <param name="Next">The cursor, next link, page number or offset of the next page; null before the first page.</param>
/// <param name="Since">The lower bound the partition asks for (inclusive), if any.</param>
/// <param name="Until">The upper bound it asks for, if any.</param>
public sealed record PagePosition(string? Next, DateTimeOffset? Since, DateTimeOffset? Until);

/// <summary>What a page says about the one after it.</summary>
/// <param name="Next">The position of the next page; null when this page was the last.</param>
/// <param name="ExpectedTotal">The total the upstream reports, when it does.</param>
public sealed record PageFollowing(string? Next, long? ExpectedTotal);

/// <summary>
/// The requests of a source's pages, in each of the four pagination styles, and when they stop:
/// an empty page always ends; so does a missing cursor or next link, <c>hasMore: false</c>, or a
/// short page of a page-number or offset source that declares its page size. The credential goes
/// in as the source declares (header or query parameter, after its prefix). A next link must stay
/// on the source's own scheme, host and port: a body may not send the credential elsewhere.
/// </summary>
public sealed class PageRequests(SourceDefinition source, string? secret)
{
    private readonly SourcePagination _pagination = source.Pagination;
    private readonly JsonPath? _totalPath = Optional(source.Records.TotalPath);
    private readonly JsonPath? _hasMorePath = Optional(source.Pagination.HasMorePath);
    private readonly JsonPath? _cursorPath = Optional(source.Pagination.CursorPath);
    private readonly JsonPath? _nextLinkPath = Optional(source.Pagination.NextLinkPath);

    /// <summary>The paths whose values <see cref="Follow(PagePosition, IPageFields, HttpResponseMessage, int)"/> reads from a page's body.</summary>
    public IReadOnlyList<JsonPath> Watched => new[] { _totalPath, _hasMorePath, _cursorPath, _nextLinkPath }.OfType<JsonPath>().ToList();

    public HttpRequestMessage Build(PagePosition position)
    {
        Uri url;
        if (_pagination.Style == PaginationStyle.NextLink && position.Next is { } link)
        {
            url = new Uri(link);
            if (!SameOrigin(url, source.Request.Url))
            {
                throw new SyncException("next_link_refused",
                    $"the next link points to {url.GetLeftPart(UriPartial.Authority)}, not to the source's {source.Request.Url.GetLeftPart(UriPartial.Authority)}");
            }
        }
        else
        {
            var query = new List<KeyValuePair<string, string?>>();
            foreach (var (name, value) in source.Request.Query ?? new Dictionary<string, string>())
            {
                query.Add(new(name, value));
            }

            if (source.Incremental is { } incremental)
            {
                if (position.Since is { } since)
                {
                    query.Add(new(incremental.SinceParameter, Format(since, incremental.Format)));
                }

                if (position.Until is { } until && incremental.UntilParameter is { } untilParameter)
                {
                    query.Add(new(untilParameter, Format(until, incremental.Format)));
                }
            }

            if (_pagination.PageSize is { } size && _pagination.LimitParameter is { } limit)
            {
                query.Add(new(limit, size.ToString(CultureInfo.InvariantCulture)));
            }

            switch (_pagination.Style)
            {
                case PaginationStyle.Cursor when position.Next is { } cursor:
                    query.Add(new(_pagination.CursorParameter ?? "cursor", cursor));
                    break;
                case PaginationStyle.Page:
                    query.Add(new(_pagination.PageParameter ?? "page", position.Next ?? _pagination.StartPage.ToString(CultureInfo.InvariantCulture)));
                    break;
                case PaginationStyle.Offset:
                    query.Add(new(_pagination.OffsetParameter ?? "offset", position.Next ?? "0"));
                    break;
            }

            url = new Uri(QueryHelpers.AddQueryString(source.Request.Url.ToString(), query));
        }

        if (source.Auth is { In: SourceAuthPlacement.Query } queryAuth && secret is not null)
        {
            url = new Uri(QueryHelpers.AddQueryString(url.ToString(), queryAuth.Name, queryAuth.Prefix + secret));
        }

        var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.ParseAdd("application/json");

        // The declared fixed headers (an API version, a tenant id), before the credential: a header of the credential's name stays the credential's.
        foreach (var (name, value) in source.Request.Headers ?? new Dictionary<string, string>())
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        if (source.Auth is { In: SourceAuthPlacement.Header } headerAuth && secret is not null)
        {
            request.Headers.TryAddWithoutValidation(headerAuth.Name, headerAuth.Prefix + secret);
        }

        return request;
    }

    /// <summary>The position after a page of <paramref name="records"/> records, read from its body and headers.</summary>
    public PageFollowing Follow(PagePosition position, JsonElement body, HttpResponseMessage response, int records) =>
        Follow(position, new DocumentFields(body), response, records);

    /// <summary>The position after a page of <paramref name="records"/> records, from the values its body held at the watched paths and its headers.</summary>
    public PageFollowing Follow(PagePosition position, IPageFields body, HttpResponseMessage response, int records)
    {
        long? total = _totalPath is { } totalPath && body.Text(totalPath) is { } text
                      && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed)
            ? parsed
            : null;
        if (records == 0 || (_hasMorePath is { } hasMore && body.IsFalse(hasMore)))
        {
            return new PageFollowing(null, total);
        }

        var next = _pagination.Style switch
        {
            PaginationStyle.Cursor => Cursor(body, response),
            PaginationStyle.NextLink => NextLink(body, response),
            PaginationStyle.Page => Short(records) ? null : ((Number(position.Next) ?? _pagination.StartPage) + 1).ToString(CultureInfo.InvariantCulture),
            PaginationStyle.Offset => Short(records) ? null : ((Number(position.Next) ?? 0) + records).ToString(CultureInfo.InvariantCulture),
            _ => null,
        };
        return new PageFollowing(string.IsNullOrEmpty(next) ? null : next, total);
    }

    /// <summary>A parsed body's values at the watched paths.</summary>
    private sealed class DocumentFields(JsonElement body) : IPageFields
    {
        public string? Text(JsonPath path) => path.SelectText(body);

        public bool IsFalse(JsonPath path) => path.TrySelect(body, out var value) && value.ValueKind == JsonValueKind.False;
    }

    private static JsonPath? Optional(string? path) => path is null ? null : JsonPath.Parse(path);

    /// <summary>The URL without its query, which may hold the credential: the only form of it that is logged or shown.</summary>
    public static string Describe(Uri url) => url.GetLeftPart(UriPartial.Path);

    private string? Cursor(IPageFields body, HttpResponseMessage response)
    {
        if (_pagination.CursorHeader is { } header && response.Headers.TryGetValues(header, out var values))
        {
            return values.FirstOrDefault();
        }

        return _cursorPath is { } path ? body.Text(path) : null;
    }

    private string? NextLink(IPageFields body, HttpResponseMessage response)
    {
        string? link = null;
        if (_nextLinkPath is { } path)
        {
            link = body.Text(path);
        }
        else if (response.Headers.TryGetValues("Link", out var values))
        {
            link = LinkHeader.Next(string.Join(",", values));
        }

        if (link is null)
        {
            return null;
        }

        // An upstream echoes the query, credential included: the link is checkpointed without it, and it is added again per request.
        var absolute = new Uri(response.RequestMessage!.RequestUri!, link);
        return source.Auth is { In: SourceAuthPlacement.Query } auth ? WithoutParameter(absolute, auth.Name).ToString() : absolute.ToString();
    }

    private static Uri WithoutParameter(Uri url, string name)
    {
        var query = QueryHelpers.ParseQuery(url.Query).Where(p => !string.Equals(p.Key, name, StringComparison.Ordinal))
            .SelectMany(p => p.Value.Select(v => new KeyValuePair<string, string?>(p.Key, v)));
        return new Uri(QueryHelpers.AddQueryString(url.GetLeftPart(UriPartial.Path), query));
    }

    private bool Short(int records) => _pagination.PageSize is { } size && records < size;

    private static long? Number(string? value) =>
        long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) ? number : null;

    private static bool SameOrigin(Uri a, Uri b) =>
        a.Scheme == b.Scheme && string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

    public static string Format(DateTimeOffset time, TimeFormat format) => format switch
    {
        TimeFormat.UnixSeconds => time.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture),
        TimeFormat.UnixMilliseconds => time.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
        _ => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
    };
}

/// <summary>The <c>rel="next"</c> target of an RFC 8288 <c>Link</c> header.</summary>
public static class LinkHeader
{
    public static string? Next(string value)
    {
        foreach (var part in value.Split(','))
        {
            var segments = part.Split(';', StringSplitOptions.TrimEntries);
            if (segments.Length < 2 || !segments[0].StartsWith('<') || !segments[0].EndsWith('>'))
            {
                continue;
            }

            if (segments.Skip(1).Any(s => s.Replace(" ", "").Trim() is var p
                                          && (p.Equals("rel=\"next\"", StringComparison.OrdinalIgnoreCase) || p.Equals("rel=next", StringComparison.OrdinalIgnoreCase))))
            {
                return segments[0][1..^1];
            }
        }

        return null;
    }
}

/// <summary>A sync cannot go on: <see cref="Code"/> is stable (failures are grouped by it), the message for a person.</summary>
public sealed class SyncException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}
