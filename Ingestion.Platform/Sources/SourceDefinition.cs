using System.Text.Json.Serialization;

namespace Ingestion.Platform.Sources;

/// <summary>
/// A tenant's declared HTTP source: where its records come from, how to page through them, how
/// fast it may be called, and which dataset they load into. Data, not code: the sync job kind
/// interprets it. Built only through <see cref="SourceRules.Validate"/>, so every column it maps to
/// exists in the target dataset, and registered only once its base URL passed <see cref="SourceGuard"/>
/// (which a sync applies again before it connects: DNS can change).
/// The credential's secret is not part of the definition: it is stored encrypted beside it
/// (<see cref="SourceSecrets"/>) and never returned.
/// </summary>
public sealed record SourceDefinition(
    string Name,
    string Dataset,
    SourceRequest Request,
    SourceAuth? Auth,
    SourcePagination Pagination,
    SourceRecords Records,
    SourceRateLimit RateLimit,
    SourceIncremental? Incremental = null,
    SourcePartitions? Partitions = null,
    SourceSchedule? Schedule = null);

/// <summary>
/// The request of the first page: <c>BaseUrl</c> + <c>Path</c> with fixed query parameters and
/// fixed headers (e.g. <c>Accept</c>, or the <c>User-Agent</c> GitHub requires). The credential is
/// never one of them: it is in <see cref="SourceAuth"/> and sealed.
/// </summary>
public sealed record SourceRequest(
    string BaseUrl,
    string Path,
    IReadOnlyDictionary<string, string>? Query = null,
    IReadOnlyDictionary<string, string>? Headers = null)
{
    public Uri Url => new(new Uri(BaseUrl.TrimEnd('/') + "/"), Path.TrimStart('/'));
}

[JsonConverter(typeof(JsonStringEnumConverter<SourceAuthPlacement>))]
public enum SourceAuthPlacement
{
    /// <summary>The secret goes in a request header (<see cref="SourceAuth.Name"/>), after the prefix.</summary>
    Header,

    /// <summary>The secret goes in a query parameter (<see cref="SourceAuth.Name"/>), after the prefix.</summary>
    Query,
}

/// <summary>
/// How the credential is sent: <c>Authorization: Bearer …</c> is <c>(Header, "Authorization", "Bearer ")</c>.
/// Two sources with the same secret share one rate budget; the secret itself is in <see cref="SourceSecrets"/>.
/// </summary>
public sealed record SourceAuth(SourceAuthPlacement In, string Name, string? Prefix = null);

[JsonConverter(typeof(JsonStringEnumConverter<PaginationStyle>))]
public enum PaginationStyle
{
    /// <summary>A cursor read from the body (<see cref="SourcePagination.CursorPath"/>) or a header, sent back as a query parameter.</summary>
    Cursor,

    /// <summary>The next page's URL, from the body (<see cref="SourcePagination.NextLinkPath"/>) or the <c>Link</c> header's <c>rel="next"</c>.</summary>
    NextLink,

    /// <summary>Page numbers from <see cref="SourcePagination.StartPage"/>, with a page size parameter.</summary>
    Page,

    /// <summary>Offset and limit.</summary>
    Offset,
}

/// <summary>
/// How to reach the next page, and when there is none. Whatever the style, an empty page ends the
/// sync; so does a missing cursor or link, or <see cref="HasMorePath"/> reading <c>false</c>.
/// JSON paths are simple dotted paths from the body's root (<see cref="JsonPath"/>): <c>$.meta.next_cursor</c>, <c>$.data</c>.
/// <see cref="LimitParameter"/> and <see cref="PageSize"/> ask for pages of that size in every style
/// (the server may cap it); <see cref="CursorHeader"/> is read when <see cref="CursorPath"/> is not set,
/// and a next link is read from the <c>Link</c> header when <see cref="NextLinkPath"/> is not set.
/// </summary>
public sealed record SourcePagination(
    PaginationStyle Style,
    string? CursorPath = null,
    string? CursorHeader = null,
    string? CursorParameter = null,
    string? NextLinkPath = null,
    string? HasMorePath = null,
    string? PageParameter = null,
    int StartPage = 1,
    string? OffsetParameter = null,
    string? LimitParameter = null,
    int? PageSize = null);

/// <summary>
/// Where the records are in a page (<see cref="Path"/>, a JSON path to an array), which field of a
/// record fills each of the dataset's columns (<see cref="Fields"/>: column name → JSON path from
/// the record), and where the API reports its total, if it does (for the ETA and reconciliation).
/// A value is coerced to its column's type; a timestamp column accepts ISO 8601 strings and Unix
/// seconds or milliseconds, mixed in one response. A record that does not fit is rejected with its
/// raw JSON and the reason.
/// </summary>
public sealed record SourceRecords(string Path, IReadOnlyDictionary<string, string> Fields, string? TotalPath = null);

/// <summary>A declared limit: at most <see cref="Requests"/> requests in any <see cref="PerSeconds"/> seconds, per credential.</summary>
public sealed record RateLimitPolicy(int Requests, int PerSeconds);

/// <summary>
/// The declared policies (all must hold), and whether to learn the real limit from responses:
/// <c>X-RateLimit-Limit/-Remaining/-Reset</c> (reset as seconds from now or as an epoch time),
/// the IETF <c>RateLimit</c>/<c>RateLimit-Policy</c> fields, and <c>Retry-After</c> (seconds or an
/// HTTP date), which always wins. <see cref="MarginMilliseconds"/>: how much wider than its window each
/// policy is kept, for the time between a request leaving a worker and the upstream counting it, which
/// varies from request to request (the network, the upstream's own queue before it stamps a request).
/// </summary>
public sealed record SourceRateLimit(IReadOnlyList<RateLimitPolicy> Policies, bool LearnFromHeaders = true,
    int MarginMilliseconds = SourceRateLimit.DefaultMarginMilliseconds)
{
    /// <summary>
    /// The margin a source gets unless it declares one: enough for an upstream a few network hops away that stamps a
    /// request after a short queue. An upstream on the same network may declare less; a distant or busy one more.
    /// Each millisecond of it costs a millisecond of every window: 25 ms is 2.4 % of a one-second window's requests.
    /// </summary>
    public const int DefaultMarginMilliseconds = 25;

    /// <summary>The widest margin a source may declare.</summary>
    public const int MaxMarginMilliseconds = 1000;

    [JsonIgnore]
    public TimeSpan Margin => TimeSpan.FromMilliseconds(MarginMilliseconds);

    /// <summary>
    /// How long past its window a limit the upstream stopped saying still counts: longer than any pause
    /// between two requests of a sync that is still running. (Declared policies last as long as their
    /// source declares them.) The workers' budget and the budget's read model both judge by it.
    /// </summary>
    public static readonly TimeSpan Lapse = TimeSpan.FromMinutes(5);
}

[JsonConverter(typeof(JsonStringEnumConverter<TimeFormat>))]
public enum TimeFormat
{
    Iso8601,
    UnixSeconds,
    UnixMilliseconds,
}

/// <summary>
/// Incremental sync: <see cref="Column"/> (a timestamptz column of the dataset, mapped in
/// <see cref="SourceRecords.Fields"/>) is the high-water mark; the next run asks for records
/// from the mark minus <see cref="LookbackSeconds"/> through <see cref="SinceParameter"/> and
/// <see cref="UntilParameter"/>, written in <see cref="Format"/>.
/// </summary>
public sealed record SourceIncremental(
    string Column,
    string SinceParameter,
    string? UntilParameter = null,
    TimeFormat Format = TimeFormat.Iso8601,
    int LookbackSeconds = 0);

/// <summary>
/// A long history split into time slices of <see cref="SliceSeconds"/> between <see cref="Start"/>
/// and now (each a partition with its own checkpoint), at most <see cref="Parallelism"/> worked at
/// once. Needs <see cref="SourceIncremental"/> for the since/until parameters.
/// </summary>
public sealed record SourcePartitions(DateTimeOffset Start, int SliceSeconds, int Parallelism = 2);

[JsonConverter(typeof(JsonStringEnumConverter<SyncMode>))]
public enum SyncMode
{
    Full,
    Incremental,
}

/// <summary>A sync started every <see cref="EveryMinutes"/> minutes, never while one of the source is running.</summary>
public sealed record SourceSchedule(int EveryMinutes, SyncMode Mode = SyncMode.Incremental);
